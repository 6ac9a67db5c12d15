// Command expire-leases is the expire-leases Lambda function of Outdial; see
// template.yaml for its schedule and permissions.
package main

import "github.com/outdial/outdial/internal/app"

func main() { app.Start("expire-leases") }
