/* replay.c: main() for the fuzz targets in a build without libFuzzer:
 * feed every file of the committed corpus (or of the files and folders
 * named on the command line) to LLVMFuzzerTestOneInput once.  make check
 * runs each target this way, so every seed and every regression case
 * goes through the target's property checks in every build. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int
replay_file(const char *path)
{
	unsigned char *buf;
	long size;
	FILE *fp;

	if ((fp = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: %s: cannot size it\n", path);
		fclose(fp);
		return -1;
	}
	/* Exactly size bytes, as libFuzzer passes them: ASan sees any read
	 * past the end. */
	if ((buf = malloc(size > 0 ? (size_t)size : 1)) == NULL ||
	    fread(buf, 1, (size_t)size, fp) != (size_t)size) {
		fprintf(stderr, "replay: %s: cannot read it\n", path);
		free(buf);
		fclose(fp);
		return -1;
	}
	fclose(fp);
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	free(buf);
	return 0;
}

/* A file, or every file of a folder in name order; returns how many were
 * replayed, -1 on an error. */
static int
replay_path(const char *path)
{
	struct dirent **names;
	struct stat st;
	int n, count = 0;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) == 0 ? 1 : -1;
	if ((n = scandir(path, &names, NULL, alphasort)) < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char file[4096];

		if (names[i]->d_name[0] != '.' && count >= 0) {
			snprintf(file, sizeof(file), "%s/%s", path,
			    names[i]->d_name);
			count = replay_file(file) == 0 ? count + 1 : -1;
		}
		free(names[i]);
	}
	free(names);
	return count;
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/'), *srcdir = getenv("srcdir");
	char corpus[4096];
	char *own[] = { corpus, NULL };
	char **paths = argv + 1;
	int total = 0;

	name = name != NULL ? name + 1 : argv[0];
	if (argc < 2) {
		/* The test harness sets srcdir; the corpus is named after us. */
		snprintf(corpus, sizeof(corpus), "%s/tests/fuzz/corpus/%s",
		    srcdir != NULL ? srcdir : ".", name);
		paths = own;
	}
	for (; *paths != NULL; paths++) {
		int n = replay_path(*paths);

		if (n < 0)
			return EXIT_FAILURE;
		printf("%s: replayed %d input%s from %s\n", name, n,
		    n == 1 ? "" : "s", *paths);
		total += n;
	}
	if (total == 0) {
		fprintf(stderr, "%s: no inputs: a corpus that is empty tests "
		    "nothing\n", name);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
