// A minimal libcni driver (cnitool's add/check/del over a conf dir): CNI_PATH, NETCONFPATH, CAP_ARGS/CNI_ARGS as cnitool reads them.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: cnitool add|check|del NETWORK NETNS [CONTAINERID]")
		os.Exit(2)
	}
	confDir := os.Getenv("NETCONFPATH")
	conf, err := libcni.LoadConfList(confDir, os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	netns, _ := filepath.Abs(os.Args[3])
	id := "cnitool-" + strings.ReplaceAll(filepath.Base(netns), "/", "")
	if len(os.Args) > 4 {
		id = os.Args[4]
	}
	ifName := os.Getenv("CNI_IFNAME")
	if ifName == "" {
		ifName = "eth0"
	}
	var args [][2]string
	if a := os.Getenv("CNI_ARGS"); a != "" {
		for _, kv := range strings.Split(a, ";") {
			p := strings.SplitN(kv, "=", 2)
			if len(p) == 2 {
				args = append(args, [2]string{p[0], p[1]})
			}
		}
	}
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: ifName, Args: args}
	cn := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Getenv("CNI_CACHE_DIR"), nil)
	ctx := context.TODO()
	switch os.Args[1] {
	case "add":
		r, err := cn.AddNetworkList(ctx, conf, rt)
		if err != nil {
			fmt.Fprintln(os.Stderr, "add:", err)
			os.Exit(1)
		}
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	case "check":
		if err := cn.CheckNetworkList(ctx, conf, rt); err != nil {
			fmt.Fprintln(os.Stderr, "check:", err)
			os.Exit(1)
		}
	case "del":
		if err := cn.DelNetworkList(ctx, conf, rt); err != nil {
			fmt.Fprintln(os.Stderr, "del:", err)
			os.Exit(1)
		}
	default:
		os.Exit(2)
	}
}
