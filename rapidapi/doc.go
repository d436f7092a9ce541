// Package rapidapi is the RapidAPI marketplace integration: which tier a
// subscription buys, the records of subscribers (created on first use and
// kept up to date by RapidAPI's webhooks), their monthly usage, and the
// webhook signature.
//
// Its headers are trusted only when the api has checked RapidAPI's proxy
// secret; this package does not see requests.
package rapidapi
