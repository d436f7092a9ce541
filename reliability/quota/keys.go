package quota

func windowKey(name string) string       { return "reliapi:quota:{" + name + "}" }
func banKey(subject string) string       { return "reliapi:ban:{" + subject + "}" }
func violationKey(subject string) string { return "reliapi:ban:{" + subject + "}:violations" }
