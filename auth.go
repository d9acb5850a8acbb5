package forge

import "time"

// Role is what a token lets its holder do.
type Role string

// The roles: an admin does everything; a viewer reads, and deploys nothing.
const (
	RoleAdmin  Role = "admin"
	RoleViewer Role = "viewer"
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleViewer }

// Token is an API token as the ledger keeps it: never the secret itself,
// only its hash.
type Token struct {
	Name    string    `json:"name"`
	Role    Role      `json:"role"`
	Hash    string    `json:"-"`
	Created time.Time `json:"created"`
}
