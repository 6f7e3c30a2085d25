/* config.c (fuzz): a whole config file, the bytes upcased -c reads
 * (settings_parse, which settings_load hands the file to).  A file that
 * parses, once the derived values are filled in (settings_derive, as
 * settings_finish does before --check-config prints), prints
 * (settings_print) to a file that parses to the same settings and prints
 * the same text again; a file that is refused says where and why
 * ("NAME:LINE: ..."). */
#include "fuzz.h"
#include "addrs.h"
#include "settings.h"

#define NAME		"fuzz.conf"
#define NOFILE		65536	/* the descriptor limit derive assumes */
#define OPEN_FDS	8

/* settings_print's text, malloc'd. */
static char *
fuzz_config_print(const struct settings *cfg, size_t *len)
{
	char *text = NULL;
	FILE *fp = open_memstream(&text, len);

	FUZZ_CHECK(fp != NULL, "open_memstream failed");
	settings_print(cfg, fp);
	FUZZ_CHECK(fclose(fp) == 0, "open_memstream: fclose failed");
	return text;
}

/* Field by field, for what the text alone could hide (a scope id, an
 * option printed the same but parsed differently). */
static int
fuzz_config_same(const struct settings *a, const struct settings *b)
{
	if (a->nlisten != b->nlisten)
		return 0;
	for (int i = 0; i < a->nlisten; i++) {
		const struct listen_spec *x = &a->listen[i], *y = &b->listen[i];
		if (!fuzz_addr_equal(&x->addr, &y->addr) ||
		    !listen_opts_equal(&x->opts, &y->opts) ||
		    x->uid != y->uid || x->gid != y->gid)
			return 0;
	}
	return a->backlog == b->backlog && a->chunk_size == b->chunk_size &&
	    a->max_pending == b->max_pending && a->max_conns == b->max_conns &&
	    a->threads == b->threads && a->idle_timeout == b->idle_timeout &&
	    a->write_timeout == b->write_timeout &&
	    a->shutdown_timeout == b->shutdown_timeout &&
	    a->log_level == b->log_level &&
	    strcmp(a->log_file, b->log_file) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct settings a, b;	/* 32 listeners: not on the stack */
	static int based;
	char err[SETTINGS_ERRLEN] = "";
	char *text, *again;
	size_t len, len2;

	/* Relative paths become absolute under the base: printed so, they
	 * must parse to themselves. */
	if (!based++)
		FUZZ_CHECK(settings_set_base_dir("/fuzz-base") == 0, "base dir");
	settings_defaults(&a);
	if (settings_parse(&a, NAME, (const char *)data, size, err,
	    sizeof(err)) != 0) {
		FUZZ_CHECK_ERR(err, sizeof(err), "(the file)");
		FUZZ_CHECK(strncmp(err, NAME ":", strlen(NAME ":")) == 0,
		    "the error does not start with the file's name: %s", err);
		return 0;
	}
	if (settings_derive(&a, NOFILE, OPEN_FDS, err, sizeof(err)) != 0) {
		FUZZ_CHECK_ERR(err, sizeof(err), "(the file)");
		return 0;
	}
	text = fuzz_config_print(&a, &len);
	settings_defaults(&b);
	FUZZ_CHECK(settings_parse(&b, NAME, text, len, err, sizeof(err)) == 0,
	    "the printed settings are refused: %s\n--- printed:\n%s", err,
	    text);
	FUZZ_CHECK(settings_derive(&b, NOFILE, OPEN_FDS, err,
	    sizeof(err)) == 0, "the printed settings do not derive: %s\n"
	    "--- printed:\n%s", err, text);
	again = fuzz_config_print(&b, &len2);
	FUZZ_CHECK(len == len2 && memcmp(text, again, len) == 0, "printed, "
	    "parsed and printed again, the settings differ\n--- first:\n%s"
	    "--- then:\n%s", text, again);
	FUZZ_CHECK(fuzz_config_same(&a, &b), "the printed settings parse to "
	    "other values\n--- printed:\n%s", text);
	free(text);
	free(again);
	return 0;
}
