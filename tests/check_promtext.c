/* check_promtext.c: the exposition text for known counters. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "promtext.h"
#include "check_main.h"

static char *
render(const struct promtext_input *in)
{
	struct evbuffer *b = evbuffer_new();
	size_t n;
	char *text;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(promtext_render(b, in), 0);
	n = evbuffer_get_length(b);
	text = calloc(1, n + 1);
	ck_assert_ptr_nonnull(text);
	evbuffer_remove(b, text, n);
	evbuffer_free(b);
	return text;
}

static void
has_line(const char *text, const char *line)
{
	char *want = malloc(strlen(line) + 3);

	ck_assert_ptr_nonnull(want);
	sprintf(want, "\n%s\n", line);
	ck_assert_msg(strstr(text, want) != NULL, "no line '%s' in:\n%s", line,
	    text);
	free(want);
}

START_TEST(test_render_known_values)
{
	struct stats_snap sum, w[2];
	struct procinfo p = { 12.5, 4096, 8192, 1700000000.25, 9, 1024 };
	struct promtext_input in = { "9.9.9", &sum, w, 2, &p };
	char *text;

	memset(&sum, 0, sizeof(sum));
	memset(w, 0, sizeof(w));
	sum.v[ST_OPENED] = 10;
	sum.v[ST_ACCEPTED] = 11;
	sum.v[ST_CLOSED_EOF] = 7;
	sum.v[ST_CLOSED_SHUTDOWN] = 1;
	sum.v[ST_BYTES_IN] = 12345;
	sum.v[ST_DGRAMS_DROPPED] = 2;
	sum.v[ST_DGRAMS_DROPPED_RATE] = 3;
	sum.paused_us[STATS_PAUSE_LIMIT] = 1500000;
	sum.paused_now[STATS_PAUSE_LIMIT] = 1;
	w[1].v[ST_LAG_BUCKET + 0] = 5;
	w[1].v[ST_LAG_BUCKET + 3] = 2;
	w[1].v[ST_LAG_BUCKET + STATS_LAG_BUCKETS] = 1;	/* above 10 s */
	w[1].v[ST_LAG_COUNT] = 8;
	w[1].v[ST_LAG_SUM_US] = 12500000;
	text = render(&in);
	has_line(text, "upcased_build_info{version=\"9.9.9\"} 1");
	has_line(text, "upcased_connections 2");
	has_line(text, "upcased_connections_accepted_total 11");
	has_line(text, "upcased_connections_closed_total{reason=\"eof\"} 7");
	has_line(text, "upcased_connections_closed_total{reason=\"reset\"} 0");
	has_line(text, "upcased_connections_rejected_total{reason=\"per_ip\"} 0");
	has_line(text, "upcased_received_bytes_total 12345");
	has_line(text, "upcased_datagrams_dropped_total{reason=\"send\"} 2");
	has_line(text, "upcased_datagrams_dropped_total{reason=\"rate\"} 3");
	has_line(text, "upcased_accept_paused_seconds_total"
	    "{reason=\"max_conns\"} 1.500000");
	has_line(text, "upcased_accepting 0");
	/* Buckets are cumulative; +Inf is the count. */
	has_line(text, "upcased_loop_lag_seconds_bucket{worker=\"1\","
	    "le=\"0.001\"} 5");
	has_line(text, "upcased_loop_lag_seconds_bucket{worker=\"1\","
	    "le=\"0.005\"} 5");
	has_line(text, "upcased_loop_lag_seconds_bucket{worker=\"1\","
	    "le=\"0.01\"} 7");
	has_line(text, "upcased_loop_lag_seconds_bucket{worker=\"1\","
	    "le=\"10\"} 7");
	has_line(text, "upcased_loop_lag_seconds_bucket{worker=\"1\","
	    "le=\"+Inf\"} 8");
	has_line(text, "upcased_loop_lag_seconds_sum{worker=\"1\"} 12.500000");
	has_line(text, "upcased_loop_lag_seconds_count{worker=\"0\"} 0");
	has_line(text, "process_cpu_seconds_total 12.500");
	has_line(text, "process_start_time_seconds 1700000000.250");
	has_line(text, "process_max_fds 1024");
	has_line(text, "# TYPE upcased_loop_lag_seconds histogram");
	free(text);
}
END_TEST

/* What /proc could not tell is left out, never shown as a number. */
START_TEST(test_unknown_process_numbers_left_out)
{
	struct stats_snap sum;
	struct procinfo p = { 1, 2, 3, 4, -1, -1 };
	struct promtext_input in = { "1", &sum, &sum, 1, &p };
	char *text;

	memset(&sum, 0, sizeof(sum));
	text = render(&in);
	ck_assert_ptr_null(strstr(text, "process_open_fds"));
	ck_assert_ptr_null(strstr(text, "process_max_fds"));
	has_line(text, "process_virtual_memory_bytes 3");
	free(text);
}
END_TEST

/* Every TYPE line follows the HELP line of the same family. */
START_TEST(test_every_type_has_help)
{
	struct stats_snap sum;
	struct promtext_input in = { "1", &sum, &sum, 1, NULL };
	char *text, *line, *save, *prev = NULL;
	int types = 0;

	memset(&sum, 0, sizeof(sum));
	text = render(&in);
	ck_assert_ptr_null(strstr(text, "process_"));
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "# TYPE ", 7) == 0) {
			size_t n = strcspn(line + 7, " ");
			ck_assert_msg(prev != NULL && strncmp(prev, "# HELP ", 7) ==
			    0 && strncmp(prev + 7, line + 7, n) == 0 &&
			    prev[7 + n] == ' ', "no HELP before '%s'", line);
			types++;
		}
		prev = line;
	}
	ck_assert_int_ge(types, 17);
	free(text);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("promtext");
	TCase *tc = tcase_create("promtext");

	tcase_add_test(tc, test_render_known_values);
	tcase_add_test(tc, test_every_type_has_help);
	tcase_add_test(tc, test_unknown_process_numbers_left_out);
	suite_add_tcase(s, tc);
	return check_run(s);
}
