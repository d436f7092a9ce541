package budget

// spendKey is a tenant's spend hash: for the day (days since the Unix
// epoch, UTC) and month (year×12+month) windows, "d:<day>:spent",
// "d:<day>:held", "m:<month>:spent" and "m:<month>:held", in nano-dollars;
// "h:<hold ID>", each hold in flight ("<nano-dollars> <day> <month>");
// "swept", the day windows that were over were last removed.
func spendKey(tenant string) string { return "reliapi:budget:{" + tenant + "}" }

// settledKey marks a hold settled for a while (see settleScript); it
// shares the spend hash's hash tag.
func settledKey(tenant, holdID string) string {
	return spendKey(tenant) + ":settled:" + holdID
}
