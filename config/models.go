package config

// ModelRoute sends a model name to a target.
type ModelRoute struct {
	// Target is an LLM target. Required.
	Target string `yaml:"target"`
	// Model is the name the target's provider knows. Default: the target's
	// default_model.
	Model string `yaml:"model"`
}

// models checks every model route against the targets.
func (v *validator) models(models map[string]*ModelRoute, targets map[string]*Target) {
	for name, m := range models {
		path := "models." + name
		if m == nil {
			v.add(path, "must not be empty")
			continue
		}
		t := targets[m.Target]
		switch {
		case m.Target == "":
			v.add(path+".target", "required")
		case t == nil:
			v.add(path+".target", "no such target %q", m.Target)
		case t.LLM == nil:
			v.add(path+".target", "target %q has no llm block", m.Target)
		case m.Model == "" && t.LLM.DefaultModel == "":
			v.add(path+".model", "required: target %q has no default_model", m.Target)
		}
	}
}
