/* udpclient.h: the client over udp: one datagram per line, or -m. */
#ifndef UDPCLIENT_H
#define UDPCLIENT_H

#include "client.h"

/* Run the exchange o describes; returns the exit status (exitcodes.h). */
int	udpclient_run(const struct client_opts *o);

#endif
