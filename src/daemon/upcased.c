/* upcased.c: the daemon's main: the command line, then the settings it
 * and the config file compose (the command line wins), then
 * server_run(). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "exitcodes.h"
#include "settings.h"
#include "log.h"
#include "restart.h"
#include "server.h"
#include "service.h"

/* What this build can do beyond the core echo, for -V; optional parts
 * add themselves here as they come. */
#define FEATURES " systemd-notify socket-activation reuseport metrics proxy-protocol"

#define OPT_KEY		256	/* + index into settings_keys */
#define OPT_CHECK	(OPT_KEY + 100)

static void
upcased_usage(FILE *fp)
{
	fprintf(fp,
"usage: upcased [-dvqhV] [-c FILE] [--check-config] [-l ADDR]... [--KEY VALUE]...\n"
"Uppercase-echo daemon: every a-z byte a client sends comes back as A-Z,\n"
"every other byte unchanged.\n"
"\n"
"  -l, --listen 'ADDR [OPTION]...'\n"
"                       ADDR is HOST:PORT, [IPV6]:PORT, *:PORT, unix:PATH or\n"
"                       udp:HOST:PORT (repeatable, up to 32; default\n"
"                       127.0.0.1:8080).  Options after it: reuseport (TCP,\n"
"                       udp); proxy_protocol (TCP); mode=0660 owner=NAME\n"
"                       group=NAME (unix)\n"
"  -c, --config FILE    read key = value settings; options override them\n"
"      --check-config   validate, print the effective settings, exit\n"
"  -d, --daemon         detach into the background (daemon = yes)\n"
"  -v, --verbose        log every connection (log_level = debug)\n"
"  -q, --quiet          log only the stable lines (listening on, ready,\n"
"                       stats, ...), warnings and errors (log_level = notice)\n"
"  -h, --help           this text\n"
"  -V, --version        print the version\n"
"\n"
"Every config key is also an option (idle_timeout is --idle-timeout):\n");
	for (const struct settings_key *k = settings_keys; k->name != NULL; k++) {
		char opt[64];
		if (strcmp(k->name, "listen") == 0 || strcmp(k->name, "daemon") == 0)
			continue;	/* -l and -d, above */
		fprintf(fp, "  --%s%s%s\n      %s\n", settings_option_name(k->name,
		    opt, sizeof(opt)), k->arg != NULL ? " " : "",
		    k->arg != NULL ? k->arg : "", k->help);
	}
	fprintf(fp,
"\nTimeouts T are seconds with a fraction (0.25) or none, as in Python's\n"
"settimeout.  Signals: SIGINT/SIGTERM shut down gracefully (twice: at\n"
"once), SIGUSR1 logs counters, SIGHUP reopens the log and reloads -c's\n"
"file, SIGUSR2 restarts the binary without refusing anyone.  Flags\n"
"(daemon) are yes or no in the file.  Exit status: 0 after a shutdown,\n"
"1 if the server could not start, 2 for a bad option or configuration.\n");
}

static struct option *
build_options(void)
{
	static const struct option fixed[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, OPT_CHECK },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
	};
	size_t nkeys = 0, nfixed = sizeof(fixed) / sizeof(fixed[0]);
	struct option *opts;

	while (settings_keys[nkeys].name != NULL)
		nkeys++;
	opts = calloc(nfixed + nkeys + 1, sizeof(*opts));
	if (opts == NULL)
		return NULL;
	memcpy(opts, fixed, sizeof(fixed));
	for (size_t i = 0; i < nkeys; i++) {
		char buf[64], *name = strdup(settings_option_name(settings_keys[i].name,
		    buf, sizeof(buf)));
		if (name == NULL)
			return NULL;
		opts[nfixed + i].name = name;
		opts[nfixed + i].has_arg = settings_keys[i].arg != NULL ?
		    required_argument : no_argument;
		opts[nfixed + i].val = OPT_KEY + (int)i;
	}
	return opts;
}

static void
free_options(struct option *opts)
{
	for (struct option *o = opts; o->name != NULL; o++)
		if (o->val >= OPT_KEY && o->val < OPT_CHECK)
			free((char *)(uintptr_t)o->name);
	free(opts);
}

/* -c and every key option, in command-line order, for settings_compose
 * now and again at each reload. */
static int
collect_args(int argc, char **argv, const struct option *opts,
    struct settings_source *src, int *check)
{
	static const char shortopts[] = "c:l:dvqhV";
	int ch;

	opterr = 0;	/* our own messages, without the full argv[0] */
	while ((ch = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		struct settings_arg *a = &src->args[src->nargs];

		switch (ch) {
		case 'c':
			src->path = optarg;
			continue;
		case OPT_CHECK:
			*check = 1;
			continue;
		case 'h':
			upcased_usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("upcased %s (libevent %s)\nfeatures:%s\n",
			    PACKAGE_VERSION, event_get_version(), FEATURES);
			return EXIT_OK;
		case 'l':
			*a = (struct settings_arg){ "listen", optarg, "-l" };
			break;
		case 'd':
			*a = (struct settings_arg){ "daemon", "yes", "-d" };
			break;
		case 'v':
			*a = (struct settings_arg){ "log_level", "debug", "-v" };
			break;
		case 'q':
			*a = (struct settings_arg){ "log_level", "notice", "-q" };
			break;
		case '?':
			if (optopt > 0 && optopt < 128 &&
			    strchr(shortopts, optopt) != NULL)
				fprintf(stderr, "upcased: -%c needs a value\n",
				    optopt);
			else if (optopt > 0 && optopt < 128)
				fprintf(stderr, "upcased: unknown option -%c\n",
				    optopt);
			else
				fprintf(stderr, "upcased: unknown option or "
				    "missing value: %s\n", argv[optind - 1]);
			fprintf(stderr, "Try 'upcased --help'.\n");
			return EXIT_USAGE;
		default:
			/* A flag's bare option means yes. */
			*a = (struct settings_arg){ settings_keys[ch - OPT_KEY].name,
			    optarg != NULL ? optarg : "yes", NULL };
			break;
		}
		src->nargs++;
	}
	if (optind < argc) {
		fprintf(stderr, "upcased: unexpected argument '%s' "
		    "(did you mean -l %s?)\n", argv[optind], argv[optind]);
		return EXIT_USAGE;
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct settings cfg;
	struct settings_source src = { NULL, NULL, 0 };
	struct option *opts;
	struct service *svc;
	char err[SETTINGS_ERRLEN], cwd[PATH_MAX], path[PATH_MAX];
	int check = 0, rc;

	opts = build_options();
	src.args = calloc((size_t)argc + 1, sizeof(*src.args));
	if (opts == NULL || src.args == NULL) {
		fprintf(stderr, "upcased: out of memory\n");
		return EXIT_START;
	}
	if (restart_init(argc, argv) != 0)
		fprintf(stderr, "upcased: cannot tell where this binary is: "
		    "SIGUSR2 restarts will fail\n");
	rc = collect_args(argc, argv, opts, &src, &check);
	if (rc >= 0)
		goto out;
	/* Relative paths, -c's included, are the start-up directory's for
	 * the whole life of the process. */
	if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    settings_set_base_dir(cwd) != 0) {
		fprintf(stderr, "upcased: cannot tell the current directory: "
		    "%s\n", strerror(errno));
		rc = EXIT_START;
		goto out;
	}
	if (src.path != NULL) {
		if (settings_path(src.path, path, sizeof(path), err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "upcased: -c: %s\n", err);
			rc = EXIT_USAGE;
			goto out;
		}
		src.path = path;
	}
	if (settings_compose(&cfg, &src, err, sizeof(err)) != 0) {
		fprintf(stderr, "upcased: %s\n", err);
		rc = EXIT_USAGE;
		goto out;
	}
	if (settings_finish(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "upcased: %s\n", err);
		rc = EXIT_USAGE;
		goto out;
	}
	if (check) {
		settings_print(&cfg, stdout);
		rc = EXIT_OK;
		goto out;
	}
	log_set_level(cfg.log_level);
	log_capture_libevent();
	if (log_open(cfg.log_file, err, sizeof(err)) != 0) {
		fprintf(stderr, "upcased: %s\n", err);
		rc = EXIT_START;
		goto out;
	}
	log_tee_stderr(1);
	if ((svc = service_begin(&cfg, &rc)) == NULL)
		goto out;
	rc = server_run(&cfg, &src, svc);
	service_end(svc, rc);
out:
	free_options(opts);
	free(src.args);
	return rc;
}
