package discovery

// Crash stops m the way a killed process stops: without telling the other members.
// They find out through failure detection. Leave after Crash does nothing and returns
// Crash's result.
func (m *Membership) Crash() error {
	return m.stop(false)
}
