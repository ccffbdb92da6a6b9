# Shared by the bench scripts: smtp-sink as the next hop, smtp-source as the load, timing.
# Expects: $work (scratch dir), $N, $SESSIONS, $SIZE, $SINK (port), and an array pids=().

wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
now() { date +%s.%N; }

start_sink() {
    [ -n "${sink_pid:-}" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null || true
    smtp-sink -c -u nobody "127.0.0.1:$SINK" 1000 >"$work/sink.out" 2>&1 &
    sink_pid=$!; pids+=("$sink_pid")
    wait_port "$SINK"
}
sink_count() { tail -c 300 "$work/sink.out" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || echo 0; }
wait_sink() {  # wait until the sink has counted $1 messages (at most 10 minutes)
    for _ in $(seq 6000); do [ "$(sink_count)" -ge "$1" ] 2>/dev/null && return 0; sleep 0.1; done
    echo "sink got only $(sink_count) of $1" >&2; return 1
}
# load PORT → "accepted/s end-to-end/s" (SOURCE_FLAGS=-d: many messages per connection)
load() {
    local t0 t1 t2
    t0=$(now)
    smtp-source ${SOURCE_FLAGS:-} -s "$SESSIONS" -l "$SIZE" -m "$N" -f bench@example.com -t sink@dest.test "127.0.0.1:$1"
    t1=$(now)
    wait_sink "$N"
    t2=$(now)
    python3 -c "print(f'{$N/($t1-$t0):.0f} {$N/($t2-$t0):.0f}')"
}


# sluice_config PORT SPOOL_DIR [PLUGIN_TABLES] → a smarthost config into $SINK for one tenant
# that sends from 127.0.0.0/8 without AUTH (smtp-source does not authenticate).
sluice_config() {
    cat <<CONF
[server]
hostname = "bench.local"
listen = ["127.0.0.1:$1"]
listen_tls = []
max_connections = 5000
max_connections_per_ip = 5000
[spool]
dir = "$2"
[tls]
generated_dir = "$work/tls"
[plugins]
cache_dir = "$work/plugin-cache"
[delivery]
mode = "smarthost"
concurrency = 20
[delivery.smarthost]
host = "127.0.0.1"
port = $SINK
tls = "none"
[[tenant]]
name = "bench"
sender_domains = ["example.com"]
trusted_networks = ["127.0.0.0/8"]
${3:-}
CONF
}
