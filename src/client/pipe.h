/* pipe.h: the client over a stream (tcp, unix): pipe mode and -m. */
#ifndef PIPE_H
#define PIPE_H

#include "client.h"

/* Run the exchange o describes; returns the exit status (exitcodes.h). */
int	pipe_run(const struct client_opts *o);

#endif
