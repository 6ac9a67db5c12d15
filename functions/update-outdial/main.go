// Command update-outdial is the update-outdial Lambda function of Outdial; see
// template.yaml for its route and permissions.
package main

import "github.com/outdial/outdial/internal/app"

func main() { app.Start("update-outdial") }
