// A tiny Go web app: answers every GET with a greeting and logs each request.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

const greeting = "hello from go-web"

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s %s", r.Method, r.URL.Path)
		fmt.Fprintln(w, greeting)
	})
	log.Printf("listening on :%s", port)
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
