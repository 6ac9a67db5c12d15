// Command purge-targets is the purge-targets Lambda function of Outdial; see
// template.yaml for its trigger and permissions.
package main

import "github.com/outdial/outdial/internal/app"

func main() { app.Start("purge-targets") }
