package loop

import (
	"strings"
	"testing"

	"rlhf/ppo"
	"rlhf/report"
)

func TestKLPlots(t *testing.T) {
	m, err := report.ReadMetrics(strings.NewReader(
		`{"step":1,"objective/kl":0.5,"objective/kl_coef":0.1,"objective/kl_coef_slow":0.2}` + "\n" +
			`{"step":2,"objective/kl":3,"objective/kl_coef":0.4,"objective/kl_coef_slow":0.21}` + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	names := func(p *report.Plot) (out []string) {
		for _, s := range p.Series {
			out = append(out, s.Name)
		}
		return out
	}
	c := ppo.DefaultLMConfig()
	c.KLTarget, c.KLGain = 2, 2
	kl, beta := KLPlots(m, c)
	if got := strings.Join(names(kl), ","); got != "objective/kl,target" || kl.Series[1].Y[0] != 2 || kl.XLabel != "PPO step" {
		t.Errorf("KL plot with a target: series %s, level %v, x label %q", got, kl.Series[1].Y, kl.XLabel)
	}
	if got := strings.Join(names(beta), ","); got != "objective/kl_coef,objective/kl_coef_slow" {
		t.Errorf("β plot with a gain: series %s", got)
	}
	c.KLGain = 0
	if _, beta = KLPlots(m, c); len(beta.Series) != 1 {
		t.Errorf("β plot without a gain: series %v", names(beta))
	}
	c.KLTarget = 0
	if kl, _ = KLPlots(m, c); len(kl.Series) != 1 {
		t.Errorf("KL plot of a fixed β: series %v", names(kl))
	}
}
