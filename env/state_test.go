package env

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

// jsonRoundTrip sends st through encoding/json, as checkpoints do.
func jsonRoundTrip(t *testing.T, st VecState) VecState {
	t.Helper()
	buf, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out VecState
	if err := json.Unmarshal(buf, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameBits reports whether two float slices are equal bit for bit.
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// TestVecRestoreContinuesExactly: for every environment, a VecEnv snapshotted
// at several points (through JSON) and restored into a fresh VecEnv steps
// exactly like the original from there on, across episode ends, with the
// same recorded episodes.
func TestVecRestoreContinuesExactly(t *testing.T) {
	const n, seed = 3, 21
	for _, name := range Names() {
		spec, _ := SpecOf(name)
		steps := 2*spec.MaxSteps + 50
		acts := vecActions(spec, n, steps, 9)
		for _, at := range []int{0, 1, 37, spec.MaxSteps - 1, spec.MaxSteps + 3} {
			orig, _ := NewVecEnv(name, n, seed)
			orig.Record = true
			orig.Reset()
			for _, a := range acts[:at] {
				orig.Step(a)
			}
			st, err := orig.State()
			if err != nil {
				t.Fatal(err)
			}
			st2 := jsonRoundTrip(t, st)
			if !reflect.DeepEqual(st, st2) {
				t.Fatalf("%s at %d: state changed in a JSON round trip", name, at)
			}
			for i := range st.Subs {
				if !sameBits(st.Subs[i].Physics, st2.Subs[i].Physics) {
					t.Fatalf("%s at %d: physics not bit-exact after JSON", name, at)
				}
			}
			res, _ := NewVecEnv(name, n, seed)
			res.Record = true
			if err := res.Restore(st2); err != nil {
				t.Fatalf("%s at %d: %v", name, at, err)
			}
			if res.Steps() != at || !sameBits(res.Obs(), orig.Obs()) {
				t.Fatalf("%s at %d: restored at step %d, observations equal %v", name, at, res.Steps(), sameBits(res.Obs(), orig.Obs()))
			}
			ended := 0
			for s, a := range acts[at:] {
				want, got := orig.Step(a), res.Step(a)
				if !sameBits(want.Obs, got.Obs) || !sameBits(want.Reward, got.Reward) ||
					!reflect.DeepEqual(want.Terminated, got.Terminated) || !reflect.DeepEqual(want.Truncated, got.Truncated) ||
					!reflect.DeepEqual(want.FinalObs, got.FinalObs) {
					t.Fatalf("%s restored at %d: step %d differs", name, at, at+s)
				}
				if !reflect.DeepEqual(want.Episodes, got.Episodes) {
					t.Fatalf("%s restored at %d: episodes ending at step %d differ", name, at, at+s)
				}
				ended += len(got.Episodes)
			}
			if ended == 0 {
				t.Fatalf("%s: no episode ended after step %d", name, at)
			}
		}
	}
}

// The snapshot does not grow with the number of steps taken when not recording.
func TestVecStateSizeIsBounded(t *testing.T) {
	spec, _ := SpecOf("Pendulum-v1")
	v, _ := NewVecEnv("Pendulum-v1", 4, 3)
	v.Reset()
	size := func() int {
		st, err := v.State()
		if err != nil {
			t.Fatal(err)
		}
		buf, _ := json.Marshal(st)
		return len(buf)
	}
	first := size()
	for _, a := range vecActions(spec, 4, 5000, 1) {
		v.Step(a)
	}
	// Only the digits of the numbers may differ: 4 copies x (2 physics +
	// return + score) floats and a few counters.
	if last := size(); last > first+4*4*25+64 {
		t.Fatalf("snapshot grew from %d to %d bytes over 5000 steps", first, last)
	}
}

func TestSimSnapshotRestore(t *testing.T) {
	for _, name := range Names() {
		spec, _ := SpecOf(name)
		a, b := mustMake(t, name), mustMake(t, name)
		if _, err := a.(Snapshotter).Snapshot(); err == nil {
			t.Fatalf("%s: snapshot before Reset succeeded", name)
		}
		a.Reset(5)
		acts := vecActions(spec, 1, spec.MaxSteps+20, 4)
		for _, x := range acts[:spec.MaxSteps/2] {
			a.Step(x)
		}
		st, err := a.(Snapshotter).Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		if st.Step != spec.MaxSteps/2 {
			t.Fatalf("%s: snapshot step counter %d, want %d", name, st.Step, spec.MaxSteps/2)
		}
		if err := b.(Snapshotter).Restore(st); err != nil {
			t.Fatal(err)
		}
		for _, x := range acts[spec.MaxSteps/2:] {
			o1, r1, te1, tr1 := a.Step(x)
			o2, r2, te2, tr2 := b.Step(x)
			if !sameBits(o1, o2) || r1 != r2 || te1 != te2 || tr1 != tr2 {
				t.Fatalf("%s: restored environment diverged", name)
			}
		}
		if !sameBits(a.Reset(77), b.Reset(77)) {
			t.Fatalf("%s: resets differ after restore", name)
		}
		bad := st
		bad.RNG = []byte("junk")
		if err := b.(Snapshotter).Restore(bad); err == nil {
			t.Fatalf("%s: restore with a bad generator state succeeded", name)
		}
		bad = st
		bad.Step = -1
		if err := b.(Snapshotter).Restore(bad); err == nil {
			t.Fatalf("%s: restore with a negative step counter succeeded", name)
		}
	}
}

func TestVecRestoreRejectsBadStates(t *testing.T) {
	spec, _ := SpecOf("CartPole-v1")
	v, _ := NewVecEnv("CartPole-v1", 2, 7)
	if _, err := v.State(); err == nil {
		t.Fatal("State before Reset succeeded")
	}
	v.Record = true
	v.Reset()
	for _, a := range vecActions(spec, 2, 30, 2) {
		v.Step(a)
	}
	good, err := v.State()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(s *VecState){
		"format":          func(s *VecState) { s.Format = 99 },
		"environment":     func(s *VecState) { s.Env = "Pendulum-v1" },
		"seed":            func(s *VecState) { s.Seed++ },
		"copies":          func(s *VecState) { s.Subs = s.Subs[:1] },
		"negative steps":  func(s *VecState) { s.Steps = -1 },
		"episode":         func(s *VecState) { s.Subs[1].Episode = -2 },
		"step counter":    func(s *VecState) { s.Subs[0].Step = spec.MaxSteps },
		"ended":           func(s *VecState) { s.Subs[0].Ended = true },
		"return":          func(s *VecState) { s.Subs[0].Return = math.NaN() },
		"physics length":  func(s *VecState) { s.Subs[1].Physics = s.Subs[1].Physics[:2] },
		"physics inf":     func(s *VecState) { s.Subs[1].Physics[0] = math.Inf(-1) },
		"generator":       func(s *VecState) { s.Subs[0].RNG = s.Subs[0].RNG[:3] },
		"too many steps":  func(s *VecState) { s.Subs[0].Steps = append(s.Subs[0].Steps, s.Subs[0].Steps...) },
		"step record len": func(s *VecState) { s.Subs[0].Steps[0].Obs = nil },
	}
	for what, mutate := range cases {
		st := jsonRoundTrip(t, good)
		if what == "return" {
			st.Subs[0].Return = 0 // NaN does not survive JSON; set it after
		}
		mutate(&st)
		target, _ := NewVecEnv("CartPole-v1", 2, 7)
		target.Reset()
		before, _ := target.State()
		err := target.Restore(st)
		if err == nil {
			t.Errorf("%s: restore succeeded", what)
			continue
		}
		if !strings.Contains(err.Error(), "env: vec CartPole-v1: restore") {
			t.Errorf("%s: error lacks context: %v", what, err)
		}
		if after, _ := target.State(); !reflect.DeepEqual(before, after) {
			t.Errorf("%s: a failed restore changed the environment", what)
		}
	}
	// The untouched state restores.
	target, _ := NewVecEnv("CartPole-v1", 2, 7)
	if err := target.Restore(jsonRoundTrip(t, good)); err != nil {
		t.Fatal(err)
	}
}

// A restored state far from anything the dynamics reach (but finite) steps
// without hanging or panicking.
func TestRestoreExtremeStatesStep(t *testing.T) {
	for _, name := range Names() {
		spec, _ := SpecOf(name)
		v, _ := NewVecEnv(name, 1, 1)
		v.Reset()
		st, _ := v.State()
		// Huge positions with zero velocities (huge velocities turn into NaN at once).
		ph := st.Subs[0].Physics
		for i := range ph[:len(ph)/2] {
			ph[i] = 1e300 * float64(1-2*(i%2))
		}
		if err := v.Restore(st); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, a := range vecActions(spec, 1, 3, 1) {
			v.Step(a)
		}
	}
}

// FuzzVecRestore: any JSON that Restore accepts leaves a VecEnv that steps;
// anything else is an error, never a panic.
func FuzzVecRestore(f *testing.F) {
	for _, name := range []string{"CartPole-v1", "Acrobot-v1", "Reacher2D-v0"} {
		spec, _ := SpecOf(name)
		v, _ := NewVecEnv(name, 2, 3)
		v.Record = true
		v.Reset()
		for _, a := range vecActions(spec, 2, 5, 1) {
			v.Step(a)
		}
		st, _ := v.State()
		buf, _ := json.Marshal(st)
		f.Add(name, buf)
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		var st VecState
		if json.Unmarshal(data, &st) != nil {
			return
		}
		v, err := NewVecEnv(name, 2, 3)
		if err != nil {
			return
		}
		if v.Restore(st) != nil {
			return
		}
		spec := v.Spec()
		for _, a := range vecActions(spec, 2, 3, 2) {
			v.Step(a)
		}
		if _, err := v.State(); err != nil {
			t.Fatal(err)
		}
	})
}
