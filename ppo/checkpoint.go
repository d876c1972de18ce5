package ppo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"

	"rlhf/env"
	"rlhf/safetensors"
	"rlhf/tensor"
)

// Checkpoint files inside a checkpoint directory.
const (
	// ModelFile holds the actor ("actor.*" or "actor_mean.*", "actor_logstd")
	// and critic ("critic.*") parameters and, with NormObs, the observation
	// statistics as "obs_rms.mean" and "obs_rms.var" (float32 copies, for use
	// outside Go; the exact values are in StateFile).
	ModelFile = "model.safetensors"
	// OptimFile holds AdamW's moments and step count.
	OptimFile = "optim.safetensors"
	// EnvFile is the JSON snapshot of the environments (env.VecState):
	// physics, step counters, generators, running episode statistics and,
	// while recording, the steps of unfinished episodes. Its size does not
	// grow with the length of the run.
	EnvFile = "env.json"
	// StateFile is the JSON record of everything else (see checkpointState);
	// it is written last, so a checkpoint is complete once it is in place.
	StateFile = "state.json"
	// ActionsFile held every action taken, (GlobalStep, ActDim), in
	// checkpoints of format 1, whose environments were restored by replaying
	// them from the seed. Resume still reads it and rewrites such a
	// checkpoint in the current format, without it.
	ActionsFile = "actions.safetensors"
)

// Checkpoint formats: 1 restored the environments from ActionsFile, 2 from EnvFile.
const (
	formatActionLog = 1
	formatEnvState  = 2
)

// checkpointState is StateFile's content.
type checkpointState struct {
	Format     int             `json:"format"`
	Config     Config          `json:"config"`
	Iteration  int             `json:"iteration"`
	GlobalStep int             `json:"global_step"`
	RNG        []byte          `json:"rng"` // rand.PCG binary state
	ObsNorm    *RunningMeanStd `json:"obs_norm,omitempty"`
	RetNorm    *RunningMeanStd `json:"ret_norm,omitempty"`
	RetAcc     []float64       `json:"ret_acc"`
	TrainRet   []float64       `json:"train_ret"`
}

// Save writes a checkpoint to dir (created if needed): parameters,
// optimiser state, normalisation statistics, generator state, counters and
// the environments' state, so that Resume continues exactly where this run
// is. Floats that the continuation depends on are stored exactly (float64 in
// JSON reads back to the same bits).
func (t *Trainer) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	model := map[string]*tensor.Tensor{}
	for _, p := range t.params {
		model[p.Name] = p.P.Value
	}
	if t.ObsNorm != nil {
		model["obs_rms.mean"] = toTensor(t.ObsNorm.Mean, len(t.ObsNorm.Mean), 1).Reshape(-1)
		model["obs_rms.var"] = toTensor(t.ObsNorm.Var, len(t.ObsNorm.Var), 1).Reshape(-1)
	}
	meta := map[string]string{"format": "pt", "env": t.Config.Env}
	if err := safetensors.WriteFile(filepath.Join(dir, ModelFile), model, meta); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, OptimFile), t.Opt.StateDict(), nil); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	envState, err := t.Env.State()
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	envBuf, err := json.Marshal(envState)
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: environment state: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, EnvFile), append(envBuf, '\n')); err != nil {
		return err
	}
	rng, err := t.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: generator state: %w", err)
	}
	st := checkpointState{
		Format: formatEnvState, Config: t.Config, Iteration: t.Iteration, GlobalStep: t.GlobalStep, RNG: rng,
		ObsNorm: t.ObsNorm, RetNorm: t.retNorm, RetAcc: t.retAcc, TrainRet: t.trainRet,
	}
	buf, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := writeAtomic(filepath.Join(dir, StateFile), append(buf, '\n')); err != nil {
		return err
	}
	// A format-1 action log left in dir is stale now.
	if err := os.Remove(filepath.Join(dir, ActionsFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("ppo: save checkpoint: remove old action log: %w", err)
	}
	return nil
}

// writeAtomic writes buf to path through a temporary file and a rename.
func writeAtomic(path string, buf []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf, 0o644); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("ppo: save checkpoint: %w", err)
	}
	return nil
}

// ReadConfig returns the Config stored in the checkpoint at dir.
func ReadConfig(dir string) (Config, error) {
	st, err := readState(dir)
	if err != nil {
		return Config{}, err
	}
	return st.Config, nil
}

func readState(dir string) (*checkpointState, error) {
	path := filepath.Join(dir, StateFile)
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ppo: read checkpoint: %w", err)
	}
	var st checkpointState
	if err := json.Unmarshal(buf, &st); err != nil {
		return nil, fmt.Errorf("ppo: read checkpoint %s: %w", path, err)
	}
	if st.Format != formatActionLog && st.Format != formatEnvState {
		return nil, fmt.Errorf("ppo: read checkpoint %s: unknown format %d", path, st.Format)
	}
	return &st, nil
}

// Resume rebuilds the trainer saved in dir and restores its state; training
// then continues exactly as if it had not stopped (same parameters, same
// episodes, same samples). reward, which a checkpoint cannot hold, must be
// given again if the run used one.
//
// A checkpoint of format 1 (with ActionsFile) is restored by replaying its
// actions once from the seed and then rewritten in place in the current
// format; an error writing it is returned.
func Resume(dir string, reward RewardFunc) (*Trainer, error) {
	st, err := readState(dir)
	if err != nil {
		return nil, err
	}
	t, err := NewTrainer(st.Config)
	if err != nil {
		return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
	}
	t.Reward = reward
	if err := t.restore(dir, st); err != nil {
		return nil, fmt.Errorf("ppo: resume %s: %w", dir, err)
	}
	if st.Format == formatActionLog {
		if err := t.Save(dir); err != nil {
			return nil, fmt.Errorf("ppo: resume %s: upgrade format-1 checkpoint: %w", dir, err)
		}
	}
	return t, nil
}

// restore loads a checkpoint into a freshly built trainer with the same Config.
func (t *Trainer) restore(dir string, st *checkpointState) error {
	c := t.Config
	if st.Iteration < 0 || st.GlobalStep != st.Iteration*c.BatchSize() {
		return fmt.Errorf("global step %d does not match %d iterations of %d steps", st.GlobalStep, st.Iteration, c.BatchSize())
	}
	if len(st.RetAcc) != c.NumEnvs || len(st.TrainRet) != c.NumEnvs {
		return fmt.Errorf("per-environment state has %d and %d entries, want %d", len(st.RetAcc), len(st.TrainRet), c.NumEnvs)
	}
	if (st.ObsNorm != nil) != c.NormObs || (st.RetNorm != nil) != c.NormReward {
		return fmt.Errorf("normalisation statistics do not match the config")
	}
	if st.ObsNorm != nil {
		if err := st.ObsNorm.check(t.Spec.ObsDim); err != nil {
			return fmt.Errorf("observation %w", err)
		}
	}
	if st.RetNorm != nil {
		if err := st.RetNorm.check(1); err != nil {
			return fmt.Errorf("return %w", err)
		}
	}
	model, err := safetensors.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		return err
	}
	for _, p := range t.params {
		src, ok := model.Tensors[p.Name]
		if !ok {
			return fmt.Errorf("%s lacks %s", ModelFile, p.Name)
		}
		if !reflect.DeepEqual(src.Shape, p.P.Value.Shape) {
			return fmt.Errorf("%s: %s has shape %v, want %v", ModelFile, p.Name, src.Shape, p.P.Value.Shape)
		}
	}
	opt, err := safetensors.ReadFile(filepath.Join(dir, OptimFile))
	if err != nil {
		return err
	}
	// Check the environments' part before anything changes.
	var envState *env.VecState
	var log []float32
	if st.Format == formatActionLog {
		if log, err = t.readActionLog(dir, st.GlobalStep); err != nil {
			return err
		}
	} else if envState, err = readEnvState(dir, st.GlobalStep/c.NumEnvs); err != nil {
		return err
	}
	if err := t.Opt.LoadStateDict(opt.Tensors); err != nil {
		return fmt.Errorf("%s: %w", OptimFile, err)
	}
	if err := t.pcg.UnmarshalBinary(st.RNG); err != nil {
		return fmt.Errorf("generator state: %w", err)
	}
	for _, p := range t.params {
		copy(p.P.Value.Data, model.Tensors[p.Name].Data)
	}
	if envState != nil {
		if err := t.Env.Restore(*envState); err != nil {
			return fmt.Errorf("%s: %w", EnvFile, err)
		}
		t.obs = t.Env.Obs()
	} else {
		t.replay(log)
	}
	t.Iteration, t.GlobalStep = st.Iteration, st.GlobalStep
	t.ObsNorm, t.retNorm = st.ObsNorm, st.RetNorm
	t.retAcc, t.trainRet = st.RetAcc, st.TrainRet
	return nil
}

// readEnvState reads EnvFile and checks that it was saved after steps steps.
func readEnvState(dir string, steps int) (*env.VecState, error) {
	path := filepath.Join(dir, EnvFile)
	buf, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st env.VecState
	if err := json.Unmarshal(buf, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Steps != steps {
		return nil, fmt.Errorf("%s was saved after %d steps of each environment, %s after %d", EnvFile, st.Steps, StateFile, steps)
	}
	return &st, nil
}

// readActionLog reads and checks a format-1 ActionsFile of steps actions.
func (t *Trainer) readActionLog(dir string, steps int) ([]float32, error) {
	acts, err := safetensors.ReadFile(filepath.Join(dir, ActionsFile))
	if err != nil {
		return nil, err
	}
	log, ok := acts.Tensors["actions"]
	ad := t.Policy.ActDim()
	if !ok || len(log.Data) != steps*ad {
		return nil, fmt.Errorf("%s must hold %d actions of width %d", ActionsFile, steps, ad)
	}
	if t.Spec.Act.IsDiscrete() {
		for _, a := range log.Data {
			if a != float32(int(a)) || a < 0 || int(a) >= t.Spec.Act.Discrete {
				return nil, fmt.Errorf("%s holds %v, not an action index in [0, %d)", ActionsFile, a, t.Spec.Act.Discrete)
			}
		}
	}
	for _, a := range log.Data {
		if a != a {
			return nil, fmt.Errorf("%s holds a NaN action", ActionsFile)
		}
	}
	return log.Data, nil
}

// replay restarts the environments and steps them through the logged
// actions of a format-1 checkpoint, which brings them to the state they had
// when the log was saved.
func (t *Trainer) replay(log []float32) {
	n, ad := t.Config.NumEnvs, t.Policy.ActDim()
	rec := t.Env.Record
	t.Env.Record = false
	defer func() { t.Env.Record = rec }()
	t.obs = t.Env.Reset()
	envActs := make([]float64, n*ad)
	for lo := 0; lo < len(log); lo += n * ad {
		t.Policy.EnvActions(tensor.FromSlice(log[lo:lo+n*ad], n, ad), envActs)
		t.obs = t.Env.Step(envActs).Obs
	}
}
