/* exitcodes.h: the exit statuses of both programs, in one table, so that
 * scripts can tell a usage mistake from a broken server or a bad reply.
 *
 *	status	upcased				upcase, upcase bench
 *	0	shut down (or --check-config)	everything answered and verified
 *	1	could not start			local trouble (stdin, stdout, memory)
 *	2	bad option or configuration	bad option or argument
 *	3	-				could not connect, or lost the connection
 *	4	-				a reply did not come within the timeout
 *	5	-				a reply byte was wrong (or never asked for)
 */
#ifndef EXITCODES_H
#define EXITCODES_H

#define EXIT_OK		0
#define EXIT_IO		1	/* client: reading stdin or writing stdout */
#define EXIT_SOFTWARE	1	/* could not run at all: no memory, threads */
#define EXIT_START	1	/* upcased: a listener, the loop, a thread */
#define EXIT_USAGE	2
#define EXIT_CONNECT	3
#define EXIT_TIMEOUT	4
#define EXIT_VERIFY	5

#endif
