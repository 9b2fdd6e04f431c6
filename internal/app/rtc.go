package app

// wireRTC builds the WebRTC data-channel ingest.
func (a *App) wireRTC() error { return nil }
