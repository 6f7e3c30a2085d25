/* check_udp.h: a UDP socket to serve, for the suites that serve UDP. */
#ifndef CHECK_UDP_H
#define CHECK_UDP_H

#include <check.h>

#include "addr.h"
#include "sock.h"

/* A UDP socket on 127.0.0.1, port picked by the kernel; *bound says
 * which. */
static inline int
check_udp_bound(struct addr *bound)
{
	struct addr a;
	char err[256];
	int fd;

	ck_assert_int_eq(addr_parse("udp:127.0.0.1:0", &a, err, sizeof(err)), 0);
	fd = sock_listen(&a, 0, NULL, bound, NULL, err, sizeof(err));
	ck_assert_msg(fd >= 0, "%s", err);
	return fd;
}

#endif
