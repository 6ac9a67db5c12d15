// Command get-target is the get-target Lambda function of Outdial; see
// template.yaml for its route and permissions.
package main

import "github.com/outdial/outdial/internal/app"

func main() { app.Start("get-target") }
