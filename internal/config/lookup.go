package config

// index maps ids to positions in the Config's slices.
type index struct {
	creators, sources, nodes, drops map[string]int
}

// index builds the id lookups. Called by Validate once the ids are known
// to be unique.
func (c *Config) index() {
	ix := &index{
		creators: make(map[string]int, len(c.Creators)),
		sources:  make(map[string]int, len(c.Sources)),
		nodes:    make(map[string]int, len(c.Nodes)),
		drops:    make(map[string]int, len(c.Drops)),
	}
	for i := range c.Creators {
		ix.creators[c.Creators[i].ID] = i
	}
	for i := range c.Sources {
		ix.sources[c.Sources[i].ID] = i
	}
	for i := range c.Nodes {
		ix.nodes[c.Nodes[i].ID] = i
	}
	for i := range c.Drops {
		ix.drops[c.Drops[i].ID] = i
	}
	c.idx = ix
	c.cacheSchedules()
}

// Creator returns the creator with the given id.
func (c *Config) Creator(id string) (*Creator, bool) {
	var m map[string]int
	if c.idx != nil {
		m = c.idx.creators
	}
	return lookup(c.Creators, m, id, func(v *Creator) string { return v.ID })
}

// Source returns the source with the given id.
func (c *Config) Source(id string) (*Source, bool) {
	var m map[string]int
	if c.idx != nil {
		m = c.idx.sources
	}
	return lookup(c.Sources, m, id, func(v *Source) string { return v.ID })
}

// Node returns the fulfillment node with the given id.
func (c *Config) Node(id string) (*Node, bool) {
	var m map[string]int
	if c.idx != nil {
		m = c.idx.nodes
	}
	return lookup(c.Nodes, m, id, func(v *Node) string { return v.ID })
}

// Drop returns the drop of the file with the given id.
func (c *Config) Drop(id string) (*Drop, bool) {
	var m map[string]int
	if c.idx != nil {
		m = c.idx.drops
	}
	return lookup(c.Drops, m, id, func(v *Drop) string { return v.ID })
}

// dropByScan finds a drop without the index, which validation cannot use.
func (c *Config) dropByScan(id string) (*Drop, bool) {
	return lookup(c.Drops, nil, id, func(v *Drop) string { return v.ID })
}

// lookup finds id through m when there is an index, by scanning otherwise
// (a Config built in code and not validated) or when the slice has changed
// since the index was built.
func lookup[T any](s []T, m map[string]int, id string, idOf func(*T) string) (*T, bool) {
	if m != nil {
		i, ok := m[id]
		if !ok {
			return nil, false
		}
		if i < len(s) && idOf(&s[i]) == id {
			return &s[i], true
		}
	}
	for i := range s {
		if idOf(&s[i]) == id {
			return &s[i], true
		}
	}
	return nil, false
}
