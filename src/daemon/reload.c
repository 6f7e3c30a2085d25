/* reload.c: compare the running settings with a re-read, key by key, as
 * --check-config prints them (one place that knows every key's text). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "reload.h"

/* settings_print into a string; NULL if out of memory. */
static char *
reload_printed(const struct settings *cfg)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (fp == NULL)
		return NULL;
	settings_print(cfg, fp);
	if (fclose(fp) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* Every "key = value" line of text for key, joined: a repeated key
 * (listen) compares as the whole list. */
static char *
reload_values(const char *text, const char *key)
{
	size_t klen = strlen(key), cap = 1, len = 0;
	char *out = calloc(1, cap);

	for (const char *p = text; out != NULL && *p != '\0'; ) {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if (n > klen + 3 && strncmp(p, key, klen) == 0 &&
		    strncmp(p + klen, " = ", 3) == 0) {
			char *grown = realloc(out, cap + n + 1);
			if (grown == NULL) {
				free(out);
				return NULL;
			}
			out = grown;
			cap += n + 1;
			memcpy(out + len, p, n);
			len += n;
			out[len++] = '\n';
			out[len] = '\0';
		}
		p += n + (nl != NULL);
	}
	return out;
}

char *
reload_changed_keys(const struct settings *cur, const struct settings *next,
    char *buf, size_t len)
{
	char *a = reload_printed(cur), *b = reload_printed(next);
	size_t used = 0;

	buf[0] = '\0';
	for (const struct settings_key *k = settings_keys; a != NULL &&
	    b != NULL && k->name != NULL; k++) {
		char *va = reload_values(a, k->name), *vb = reload_values(b, k->name);
		if (va == NULL || vb == NULL || strcmp(va, vb) != 0) {
			int n = snprintf(buf + used, len - used, "%s%s",
			    used > 0 ? ", " : "", k->name);
			if (n > 0 && (size_t)n < len - used)
				used += (size_t)n;
		}
		free(va);
		free(vb);
	}
	free(a);
	free(b);
	return buf;
}

int
reload_keep_fixed(const struct settings *cur, struct settings *next)
{
	int kept = 0;

	/* Not set (0): it would be derived again, as it was. */
	if (next->threads == 0)
		next->threads = cur->threads;
	if (next->threads != cur->threads) {
		log_warn("reload: threads cannot change while running: keeping "
		    "%d", cur->threads);
		next->threads = cur->threads;
		kept++;
	}
	if (strcmp(next->user, cur->user) != 0) {
		log_warn("reload: user cannot change while running: keeping %s",
		    cur->user[0] ? cur->user : "none");
		strcpy(next->user, cur->user);
		next->uid = cur->uid;
		next->gid = cur->gid;
		kept++;
	}
	if (strcmp(next->pidfile, cur->pidfile) != 0) {
		log_warn("reload: pidfile cannot change while running: keeping "
		    "%s", cur->pidfile[0] ? cur->pidfile : "none");
		strcpy(next->pidfile, cur->pidfile);
		kept++;
	}
	if (next->daemon != cur->daemon) {
		log_warn("reload: daemon cannot change while running: keeping "
		    "%s", cur->daemon ? "yes" : "no");
		next->daemon = cur->daemon;
		kept++;
	}
	return kept;
}
