/* bench_merge.h: upcase bench merge A.json B.json ...: the summaries of
 * runs made at the same time, added up into one. */
#ifndef BENCH_MERGE_H
#define BENCH_MERGE_H

/* argv[0] is "merge".  Returns the exit status the merged counts imply
 * (2 for a bad option or a file that is no summary). */
int	bench_merge_main(int argc, char **argv);

#endif
