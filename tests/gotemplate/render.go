// Renders an Ollama Modelfile TEMPLATE with Go's own text/template, as Ollama does for a chat:
// stdin is {"template": ..., "system": ..., "messages": [{"role", "content"}]}; stdout the prompt.
package main

import (
	"encoding/json"
	"os"
	"text/template"
)

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

func main() {
	var in struct {
		Template string    `json:"template"`
		System   string    `json:"system"`
		Messages []message `json:"messages"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&in); err != nil {
		panic(err)
	}
	tmpl := template.Must(template.New("").Parse(in.Template))
	data := map[string]any{"System": in.System, "Messages": in.Messages, "Response": ""}
	if err := tmpl.Execute(os.Stdout, data); err != nil {
		panic(err)
	}
}
