module github.com/wsedge/wsedge

go 1.26.8

require (
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/julienschmidt/httprouter v1.3.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
