/* upcased.c: the daemon's main: options, then the config file, then the
 * options again (the command line wins), then server_run(). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "exitcodes.h"
#include "settings.h"
#include "log.h"
#include "server.h"

#define OPT_KEY		256	/* + index into settings_keys */
#define OPT_CHECK	(OPT_KEY + 100)

/* The long option for a config key: idle_timeout is --idle-timeout. */
static char *
option_name(const char *key, char *buf, size_t len)
{
	size_t i;

	for (i = 0; key[i] != '\0' && i < len - 1; i++)
		buf[i] = key[i] == '_' ? '-' : key[i];
	buf[i] = '\0';
	return buf;
}

static void
upcased_usage(FILE *fp)
{
	fprintf(fp,
"usage: upcased [-vqhV] [-c FILE] [--check-config] [-l ADDR]... [--KEY VALUE]...\n"
"Uppercase-echo daemon: every a-z byte a client sends comes back as A-Z,\n"
"every other byte unchanged.\n"
"\n"
"  -l, --listen 'ADDR [OPTION]...'\n"
"                       ADDR is HOST:PORT, [IPV6]:PORT, *:PORT, unix:PATH or\n"
"                       udp:HOST:PORT (repeatable, up to 32; default\n"
"                       127.0.0.1:8080).  Options after it: reuseport (TCP,\n"
"                       udp); mode=0660 owner=NAME group=NAME (unix)\n"
"  -c, --config FILE    read key = value settings; options override them\n"
"      --check-config   validate, print the effective settings, exit\n"
"  -v, --verbose        log every connection (log_level = debug)\n"
"  -q, --quiet          log only warnings and errors (log_level = warn)\n"
"  -h, --help           this text\n"
"  -V, --version        print the version\n"
"\n"
"Every config key is also an option (idle_timeout is --idle-timeout):\n");
	for (const struct settings_key *k = settings_keys; k->name != NULL; k++) {
		char opt[64];
		if (strcmp(k->name, "listen") == 0)
			continue;	/* -l, above */
		fprintf(fp, "  --%s %s\n      %s\n", option_name(k->name, opt,
		    sizeof(opt)), k->arg, k->help);
	}
	fprintf(fp,
"\nTimeouts T are seconds with a fraction (0.25) or none, as in Python's\n"
"settimeout.  Signals: SIGINT/SIGTERM shut down gracefully (twice: at\n"
"once), SIGUSR1 logs counters.  Exit status: 0 after a shutdown, 1 if the\n"
"server could not start, 2 for a bad option or configuration.\n");
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
		char buf[64], *name = strdup(option_name(settings_keys[i].name,
		    buf, sizeof(buf)));
		if (name == NULL)
			return NULL;
		opts[nfixed + i].name = name;
		opts[nfixed + i].has_arg = required_argument;
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

int
main(int argc, char **argv)
{
	static const char shortopts[] = "c:l:vqhV";
	struct settings cfg;
	struct option *opts;
	const char *config_path = NULL;
	char err[SETTINGS_ERRLEN];
	int check = 0, ch, listen_from_cli = 0, rc;

	opts = build_options();
	if (opts == NULL) {
		fprintf(stderr, "upcased: out of memory\n");
		return EXIT_START;
	}
	opterr = 0;	/* our own messages, without the full argv[0] */
	/* Pass 1: find the config file and the options that end at once;
	 * getopt reports unknown options here. */
	while ((ch = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case OPT_CHECK:
			check = 1;
			break;
		case 'h':
			upcased_usage(stdout);
			free_options(opts);
			return EXIT_OK;
		case 'V':
			printf("upcased %s (libevent %s)\n", PACKAGE_VERSION,
			    event_get_version());
			free_options(opts);
			return EXIT_OK;
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
			free_options(opts);
			return EXIT_USAGE;
		default:
			break;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "upcased: unexpected argument '%s' "
		    "(did you mean -l %s?)\n", argv[optind], argv[optind]);
		free_options(opts);
		return EXIT_USAGE;
	}

	settings_defaults(&cfg);
	if (config_path != NULL && settings_load(&cfg, config_path, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "upcased: %s\n", err);
		free_options(opts);
		return EXIT_USAGE;
	}

	/* Pass 2: every other option, over the file's values. */
	optind = 0;
	while ((ch = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		const char *key = NULL, *value = optarg;
		char optname[64] = "-l";

		switch (ch) {
		case 'l':
			key = "listen";
			break;
		case 'v':
			key = "log_level";
			value = "debug";
			break;
		case 'q':
			key = "log_level";
			value = "warn";
			break;
		default:
			if (ch >= OPT_KEY && ch < OPT_CHECK)
				key = settings_keys[ch - OPT_KEY].name;
			break;
		}
		if (key == NULL)
			continue;
		/* The first -l on the command line replaces the file's. */
		if (strcmp(key, "listen") == 0 && !listen_from_cli++)
			cfg.nlisten = 0;
		if (settings_set(&cfg, key, value, err, sizeof(err)) != 0) {
			if (ch != 'l') {
				optname[0] = optname[1] = '-';
				option_name(key, optname + 2, sizeof(optname) - 2);
			}
			fprintf(stderr, "upcased: %s: %s\n", optname, err);
			free_options(opts);
			return EXIT_USAGE;
		}
	}
	free_options(opts);
	if (settings_finish(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "upcased: %s\n", err);
		return EXIT_USAGE;
	}

	if (check) {
		settings_print(&cfg, stdout);
		return EXIT_OK;
	}
	log_set_level(cfg.log_level);
	log_capture_libevent();
	rc = server_run(&cfg);
	return rc;
}
