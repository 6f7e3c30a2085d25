/* exitcodes.h: the exit statuses of the upcase client (pipe mode and bench),
 * shared so that scripts can tell a usage mistake from a broken server. */
#ifndef EXITCODES_H
#define EXITCODES_H

#define EXIT_OK		0	/* everything answered and verified */
#define EXIT_IO		1	/* local: reading stdin or writing stdout */
#define EXIT_SOFTWARE	1	/* could not run at all: no memory, threads */
#define EXIT_USAGE	2	/* bad option or argument */
#define EXIT_CONNECT	3	/* could not connect (or lost the connection) */
#define EXIT_TIMEOUT	4	/* a reply did not come within the timeout */
#define EXIT_VERIFY	5	/* a reply byte was wrong (or never asked for) */

#endif
