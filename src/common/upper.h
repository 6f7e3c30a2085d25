/* upper.h: the uppercase transform over a byte span. */
#ifndef UPPER_H
#define UPPER_H

#include <stddef.h>

/* Copy n bytes from src to dst, mapping a-z to A-Z and every other byte
 * to itself.  dst and src may be the same pointer (in place) but must not
 * otherwise overlap.  Pure: no allocation, no state. */
void	upper_copy(unsigned char *dst, const unsigned char *src, size_t n);

/* The byte-at-a-time reference the fast version is checked against. */
void	upper_copy_scalar(unsigned char *dst, const unsigned char *src,
	    size_t n);

static inline unsigned char
upper_byte(unsigned char c)
{
	return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 0x20) : c;
}

#endif
