package main

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// columns are the targets of the report, in order.
var columns = []string{"direct", "wsedge", "nginx", "haproxy"}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// nearestRank is the nearest-rank percentile p (0 to 100) of sorted, or
// 0 if it is empty.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(n))) - 1
	return sorted[min(max(i, 0), n-1)]
}

// renderTable prints the report as a Markdown table: medians per target,
// then each goal with the measured ratio and whether it is met.
func renderTable(rows []*row) string {
	var b strings.Builder
	b.WriteString("\n| # | workload | metric | " + strings.Join(columns, " | ") + " | measured | target | met |\n")
	b.WriteString("|---|---|---|" + strings.Repeat("---|", len(columns)) + "---|---|---|\n")
	for _, r := range rows {
		if r.id == "7" {
			renderAllocations(&b, r)
			continue
		}
		if len(r.goals) == 0 {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | | |\n", r.id, r.workload, r.metric, r.cells(), r.ratioToBaseline())
		}
		for _, g := range r.goals {
			measured, target, met := r.evaluate(g)
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.id, r.workload, r.metric, r.cells(), measured, target, met)
		}
	}
	return b.String()
}

// renderAllocations prints workload 7, whose values are wsedge's per
// direction rather than per target.
func renderAllocations(b *strings.Builder, r *row) {
	bound := r.goals[0].bound
	empty := strings.Repeat(" |", len(columns)-2)
	for _, name := range sortedKeys(r.values) {
		v := median(r.values[name])
		fmt.Fprintf(b, "| 7 | %s (%s) | %s | | %.0f |%s %.0f | <= %g | %s |\n",
			r.workload, strings.TrimPrefix(name, "wsedge "), r.metric, v, empty, v, bound, yesNo(v <= bound))
	}
}

// cells are the row's medians, one per column.
func (r *row) cells() string {
	out := make([]string, len(columns))
	for i, c := range columns {
		out[i] = cell(r, c)
	}
	return strings.Join(out, " | ")
}

func (r *row) evaluate(g goal) (measured, target, met string) {
	cmp := ">="
	if r.lowerIsBetter {
		cmp = "<="
	}
	if g.ref == "" {
		target = fmt.Sprintf("%s %g", cmp, g.bound)
	} else {
		target = fmt.Sprintf("%s %gx %s", cmp, g.factor, g.ref)
	}
	if g.info {
		target = "(stretch) " + target
	}
	measured, ok, have := r.compare(g)
	switch {
	case !have:
		return measured, target, "no data"
	case g.info && ok:
		return measured, target, "(info) yes"
	case g.info:
		return measured, target, "(info) no"
	}
	return measured, target, yesNo(ok)
}

// compare holds wsedge's median to g: the measured figure, whether it
// meets g, and whether there was data to decide.
func (r *row) compare(g goal) (measured string, ok, have bool) {
	subject := r.subject
	if subject == "" {
		subject = "wsedge"
	}
	if len(r.values[subject]) == 0 {
		return "-", false, false
	}
	w := median(r.values[subject])
	better := func(v, limit float64) bool {
		if r.lowerIsBetter {
			return v <= limit
		}
		return v >= limit
	}
	if g.ref == "" {
		return format(w), better(w, g.bound), true
	}
	if len(r.values[g.ref]) == 0 {
		return "-", false, false
	}
	ratio := w / median(r.values[g.ref])
	return fmt.Sprintf("%.2fx %s", ratio, g.ref), better(ratio, g.factor), true
}

func cell(r *row, target string) string {
	if slices.Contains(r.notApplicable, target) {
		return "n/a"
	}
	vs := r.values[target]
	if target == "direct" && len(vs) == 0 && r.values["wsedge-plain"] != nil {
		return fmt.Sprintf("(plain %s)", format(median(r.values["wsedge-plain"])))
	}
	if target == "direct" && len(vs) == 0 && r.values["wsedge-metrics"] != nil {
		return fmt.Sprintf("(metrics on %s)", format(median(r.values["wsedge-metrics"])))
	}
	if len(vs) == 0 {
		return ""
	}
	return format(median(vs))
}

func format(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func sortedKeys(m map[string][]float64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// failures lists the goals not met; stretch figures are not goals.
func failures(rows []*row) []string {
	var out []string
	for _, r := range rows {
		if r.id == "7" {
			for _, name := range sortedKeys(r.values) {
				if median(r.values[name]) > r.goals[0].bound {
					out = append(out, "7 ("+strings.TrimPrefix(name, "wsedge ")+")")
				}
			}
			continue
		}
		for _, g := range r.goals {
			if _, ok, _ := r.compare(g); !ok && !g.info {
				out = append(out, fmt.Sprintf("%s (%s vs %s)", r.id, r.metric, nameOf(g)))
			}
		}
	}
	return out
}

func nameOf(g goal) string {
	if g.ref == "" {
		return fmt.Sprintf("bound %g", g.bound)
	}
	return g.ref
}

// ratioToBaseline is wsedge's median over its baseline's (nginx's
// unless the row names another), for rows without a goal.
func (r *row) ratioToBaseline() string {
	if r.baseline == "" {
		return ratioTo(r, "wsedge", "nginx", "nginx")
	}
	return ratioTo(r, "wsedge", r.baseline, r.baselineName)
}

// ratioTo is target's median over ref's, ref named name.
func ratioTo(r *row, target, ref, name string) string {
	w, x := median(r.values[target]), median(r.values[ref])
	if w == 0 || x == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx %s", w/x, name)
}
