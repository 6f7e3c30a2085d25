/* bench_plot.c: the run as one self-contained SVG (no script, no font
 * or file it links to): messages per second over the run, p50 and p99
 * per interval on a log scale with the intervals that had errors marked,
 * and the latency percentile spectrum (HdrHistogram's plot: latency
 * against 1/(1-p) on a log axis).  Each series is an element with an id
 * (msgs_per_sec, p50, p99, errors, spectrum) so that tools and tests
 * find it. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench_plot.h"

#define W		900
#define LEFT		80		/* room for the y labels */
#define RIGHT		30
#define PANEL_H		180
#define GAP		70
#define TOP		70
#define SPECTRUM_NINES	6		/* up to 99.9999% */

/* A panel: where it is, and the ranges its axes show. */
struct plot_panel {
	double	x, y, w, h;
	double	x0, x1, y0, y1;
	int	xlog, ylog;
};

static double
plot_map(double v, double lo, double hi, int logscale)
{
	if (logscale) {
		v = log10(v > lo ? v : lo);
		lo = log10(lo);
		hi = log10(hi);
	}
	return hi > lo ? (v - lo) / (hi - lo) : 0.5;
}

static double
plot_px(const struct plot_panel *p, double v)
{
	return p->x + p->w * plot_map(v, p->x0, p->x1, p->xlog);
}

static double
plot_py(const struct plot_panel *p, double v)
{
	double f = plot_map(v, p->y0, p->y1, p->ylog);

	if (f < 0)
		f = 0;
	if (f > 1)
		f = 1;
	return p->y + p->h * (1 - f);
}

/* A tick value shown short: 1.5k, 2M, 0.25. */
static void
plot_num(char *buf, size_t len, double v)
{
	if (v >= 1e6)
		snprintf(buf, len, "%gM", v / 1e6);
	else if (v >= 1e4)
		snprintf(buf, len, "%gk", v / 1e3);
	else
		snprintf(buf, len, "%g", v);
}

/* A round step near a fifth of the span. */
static double
plot_step(double span)
{
	double s = pow(10, floor(log10(span > 0 ? span : 1))), f = span / s;

	return f > 5 ? s * 2 : f > 2 ? s : f > 1 ? s / 2 : s / 5;
}

static void
plot_frame(FILE *fp, const struct plot_panel *p, const char *title,
    const char *xlabel, const char *ylabel)
{
	fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
	    "fill=\"none\" stroke=\"#888\"/>\n", p->x, p->y, p->w, p->h);
	fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" class=\"title\">%s</text>\n",
	    p->x, p->y - 10, title);
	fprintf(fp, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s"
	    "</text>\n", p->x + p->w / 2, p->y + p->h + 34, xlabel);
	fprintf(fp, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" "
	    "text-anchor=\"middle\">%s</text>\n", p->x - 58, p->y + p->h / 2,
	    ylabel);
}

static void
plot_xtick(FILE *fp, const struct plot_panel *p, double v, const char *label)
{
	double x = plot_px(p, v);

	fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
	    "class=\"grid\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\""
	    ">%s</text>\n", x, p->y, x, p->y + p->h, x, p->y + p->h + 16,
	    label);
}

static void
plot_ytick(FILE *fp, const struct plot_panel *p, double v, const char *label)
{
	double y = plot_py(p, v);

	fprintf(fp, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
	    "class=\"grid\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">"
	    "%s</text>\n", p->x, y, p->x + p->w, y, p->x - 6, y + 4, label);
}

/* Linear ticks on x (seconds) and y of a panel. */
static void
plot_linear_ticks(FILE *fp, const struct plot_panel *p, int xaxis)
{
	double lo = xaxis ? p->x0 : p->y0, hi = xaxis ? p->x1 : p->y1;
	double step = plot_step(hi - lo);
	char buf[32];

	for (double v = ceil(lo / step) * step; v <= hi + step * 1e-9;
	    v += step) {
		plot_num(buf, sizeof(buf), fabs(v) < step * 1e-9 ? 0 : v);
		if (xaxis)
			plot_xtick(fp, p, v, buf);
		else
			plot_ytick(fp, p, v, buf);
	}
}

/* Powers of ten on a log y axis of milliseconds. */
static void
plot_log_ticks(FILE *fp, const struct plot_panel *p)
{
	char buf[32];

	for (double v = pow(10, ceil(log10(p->y0))); v <= p->y1 * 1.0001;
	    v *= 10) {
		snprintf(buf, sizeof(buf), "%g", v);
		plot_ytick(fp, p, v, buf);
	}
}

/* Text for an SVG element: &, < and > escaped. */
static void
plot_escaped(FILE *fp, const char *s)
{
	for (; *s; s++) {
		if (*s == '&')
			fputs("&amp;", fp);
		else if (*s == '<')
			fputs("&lt;", fp);
		else if (*s == '>')
			fputs("&gt;", fp);
		else
			fputc(*s, fp);
	}
}

static double
ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* The decade of milliseconds around lo..hi, for a log axis. */
static void
plot_ms_range(double lo, double hi, double *y0, double *y1)
{
	if (!(lo > 0))
		lo = 1e-3;
	if (hi < lo)
		hi = lo;
	*y0 = pow(10, floor(log10(lo)));
	*y1 = pow(10, ceil(log10(hi) + 1e-9));
}

static void
plot_rate(FILE *fp, const struct plot_panel *p, const struct bench_point *pts,
    size_t n)
{
	fprintf(fp, "<polyline id=\"msgs_per_sec\" class=\"rate\" points=\"");
	for (size_t i = 0; i < n; i++) {
		double len = pts[i].t1 - pts[i].t0;
		fprintf(fp, "%.1f,%.1f ", plot_px(p, (pts[i].t0 + pts[i].t1) / 2),
		    plot_py(p, len > 0 ? (double)pts[i].msgs / len : 0));
	}
	fprintf(fp, "\"/>\n");
}

static void
plot_latency(FILE *fp, const struct plot_panel *p, const struct bench_point *pts,
    size_t n, const char *id, int which)
{
	fprintf(fp, "<polyline id=\"%s\" class=\"%s\" points=\"", id, id);
	for (size_t i = 0; i < n; i++) {
		if (pts[i].count == 0)
			continue;
		fprintf(fp, "%.1f,%.1f ", plot_px(p, (pts[i].t0 + pts[i].t1) / 2),
		    plot_py(p, ms(which ? pts[i].p99 : pts[i].p50)));
	}
	fprintf(fp, "\"/>\n");
}

static void
plot_errors(FILE *fp, const struct plot_panel *p, const struct bench_point *pts,
    size_t n)
{
	fprintf(fp, "<g id=\"errors\" class=\"errors\">\n");
	for (size_t i = 0; i < n; i++)
		if (pts[i].errors > 0)
			fprintf(fp, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\"><title>%.0f-%.0f s: %llu errors"
			    "</title></rect>\n", plot_px(p, pts[i].t0), p->y,
			    plot_px(p, pts[i].t1) - plot_px(p, pts[i].t0) + 0.5,
			    p->h, pts[i].t0, pts[i].t1,
			    (unsigned long long)pts[i].errors);
	fprintf(fp, "</g>\n");
}

/* Latency at percentiles 1 - 10^-k/steps..., up to the run's count. */
static void
plot_spectrum(FILE *fp, const struct plot_panel *p, const struct hist *h)
{
	double top = p->x1;

	fprintf(fp, "<polyline id=\"spectrum\" class=\"spectrum\" points=\"");
	for (int i = 0; i <= 60 * SPECTRUM_NINES; i++) {
		double x = pow(10, i / 60.0);	/* 1 / (1 - p) */
		if (x > top)
			break;
		fprintf(fp, "%.1f,%.1f ", plot_px(p, x), plot_py(p,
		    ms(hist_percentile(h, 100 * (1 - 1 / x)))));
	}
	fprintf(fp, "\"/>\n");
}

static void
plot_write(FILE *fp, const struct bench_result *r, const struct bench_point *pts,
    size_t n)
{
	const struct bench_opts *o = r->opts;
	const struct hist *h = r->hist;
	struct plot_panel rate, lat, spec;
	double maxrate = 0, lo = 0, hi = 0, end = r->duration_s;
	uint64_t errors = bench_report_errors(r->ctr);
	int nines;

	for (size_t i = 0; i < n; i++) {
		double len = pts[i].t1 - pts[i].t0;
		if (len > 0 && (double)pts[i].msgs / len > maxrate)
			maxrate = (double)pts[i].msgs / len;
		if (pts[i].count > 0 && (lo == 0 || ms(pts[i].p50) < lo))
			lo = ms(pts[i].p50);
		if (ms(pts[i].p99) > hi)
			hi = ms(pts[i].p99);
		if (pts[i].t1 > end)
			end = pts[i].t1;
	}
	if (hist_count(h) > 0) {
		if (lo == 0 || ms(hist_min(h)) < lo)
			lo = ms(hist_min(h));
		if (ms(hist_max(h)) > hi)
			hi = ms(hist_max(h));
	}
	rate = (struct plot_panel){ LEFT, TOP, W - LEFT - RIGHT, PANEL_H,
	    0, end > 0 ? end : 1, 0, maxrate > 0 ? maxrate * 1.1 : 1, 0, 0 };
	lat = rate;
	lat.y = TOP + PANEL_H + GAP;
	lat.ylog = 1;
	plot_ms_range(lo, hi, &lat.y0, &lat.y1);
	spec = lat;
	spec.y = lat.y + PANEL_H + GAP;
	spec.xlog = 1;
	spec.ylog = 0;
	nines = hist_count(h) > 1 ? (int)ceil(log10((double)hist_count(h))) : 1;
	if (nines > SPECTRUM_NINES)
		nines = SPECTRUM_NINES;
	spec.x0 = 1;
	spec.x1 = pow(10, nines);
	spec.y0 = 0;
	spec.y1 = hist_count(h) > 0 ? ms(hist_max(h)) * 1.05 : 1;

	fprintf(fp, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
	    "font-size=\"12\">\n", W, (int)spec.y + PANEL_H + 50, W,
	    (int)spec.y + PANEL_H + 50);
	fprintf(fp, "<style>.title{font-weight:bold}.grid{stroke:#ddd}"
	    "polyline{fill:none;stroke-width:1.5}.rate{stroke:#1f77b4}"
	    ".p50{stroke:#2ca02c}.p99{stroke:#d62728}.spectrum{stroke:#9467bd}"
	    ".errors rect{fill:#d62728;fill-opacity:0.25}</style>\n");
	fprintf(fp, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
	fprintf(fp, "<text x=\"%d\" y=\"24\" class=\"title\" font-size=\"15\">"
	    "upcase bench ", LEFT);
	plot_escaped(fp, o->addr_text);
	fprintf(fp, "</text>\n");
	fprintf(fp, "<text x=\"%d\" y=\"44\">%llu messages in %.2f s, %d "
	    "connections, %d threads; p50 %.3f ms, p99 %.3f ms, max %.3f ms; "
	    "%llu errors%s</text>\n", LEFT,
	    (unsigned long long)r->ctr[BENCH_MESSAGES], r->duration_s, o->conns,
	    r->threads, ms(hist_percentile(h, 50)), ms(hist_percentile(h, 99)),
	    ms(hist_max(h)), (unsigned long long)errors,
	    errors ? " (marked red)" : "");

	plot_frame(fp, &rate, "Throughput", "time (s)", "messages per second");
	plot_linear_ticks(fp, &rate, 1);
	plot_linear_ticks(fp, &rate, 0);
	plot_errors(fp, &rate, pts, n);
	plot_rate(fp, &rate, pts, n);

	plot_frame(fp, &lat, "Latency per interval: p50 (green), p99 (red)",
	    "time (s)", "latency (ms)");
	plot_linear_ticks(fp, &lat, 1);
	plot_log_ticks(fp, &lat);
	plot_latency(fp, &lat, pts, n, "p50", 0);
	plot_latency(fp, &lat, pts, n, "p99", 1);

	plot_frame(fp, &spec, "Latency by percentile (whole run)",
	    "percentile", "latency (ms)");
	for (int k = 0; k <= nines; k++) {
		static const char *const names[] = { "0%", "90%", "99%",
		    "99.9%", "99.99%", "99.999%", "99.9999%" };
		plot_xtick(fp, &spec, pow(10, k), names[k]);
	}
	plot_linear_ticks(fp, &spec, 0);
	plot_spectrum(fp, &spec, h);
	fprintf(fp, "</svg>\n");
}

int
bench_plot_write(const char *path, const struct bench_result *r,
    const struct bench_point *pts, size_t n, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "w");

	if (fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	plot_write(fp, r, pts, n);
	if ((ferror(fp) | fclose(fp)) != 0) {
		snprintf(err, errlen, "%s: cannot write: %s", path,
		    strerror(errno));
		return -1;
	}
	return 0;
}
