/* episode.h: a run of accept pauses, told in two log lines instead of two
 * per pause. */
#ifndef EPISODE_H
#define EPISODE_H

#include <stdint.h>

/* An episode ends once accepting has run this long without a pause. */
#define EPISODE_QUIET_US	1000000

struct episode {
	int		active;		/* from the first pause to the end */
	int		paused;
	uint64_t	pauses;
	int64_t		paused_at;	/* while paused: when it began (us) */
	int64_t		paused_us;	/* this episode's pauses, ended ones */
};

/* A pause at now (microseconds, any monotonic origin).  Returns 1 if it
 * begins an episode: log its first line. */
int	episode_pause(struct episode *e, int64_t now);

/* Accepting again at now.  The episode goes on: arm a timer for
 * EPISODE_QUIET_US, cancelled by the next pause. */
void	episode_resume(struct episode *e, int64_t now);

/* The quiet timer ran out: the episode ends.  Returns 1 with its pauses
 * and the time spent paused, 0 if no episode is running unpaused. */
int	episode_end(struct episode *e, uint64_t *pauses, int64_t *paused_us);

/* Now, for the functions above. */
int64_t	episode_now(void);

#endif
