#!/usr/bin/env bash
# The Docker-free dev stack: Kafka (KRaft), a MongoDB-wire server and Mailpit, all on 127.0.0.1.
#
#   infra.sh up | down | status | env | reset    (reset: down, then delete all data and logs)
#   infra.sh start|stop|kill <kafka|mongo|mailpit>    (one server; tests use these for faults)
#   PARTNERSHIP_STACK=test infra.sh ...    (the tests' own stack; `dev`, the default, is make run's)
#
# The two stacks share no server and no file, so nothing a test publishes, mails or stops on
# purpose reaches the stack `make run` serves: the test stack listens 100 ports higher and keeps
# its state in the test/ directory inside the dev stack's. Downloads and builds go to
# $PARTNERSHIP_CACHE_DIR (default ~/.cache/inclusion-partnership), shared by both stacks; data,
# logs and pid files to $PARTNERSHIP_STATE_DIR (default <repo>/.devstack), test/ for the tests.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE_DIR=${PARTNERSHIP_CACHE_DIR:-$HOME/.cache/inclusion-partnership}
BASE_STATE_DIR=${PARTNERSHIP_STATE_DIR:-$REPO/.devstack}
STACK=${PARTNERSHIP_STACK:-dev}
case $STACK in
dev) STATE_DIR=$BASE_STATE_DIR PORT_OFFSET=0 ;;
test) STATE_DIR=$BASE_STATE_DIR/test PORT_OFFSET=100 ;;
*)
    echo "infra: PARTNERSHIP_STACK is '$STACK'; it is 'dev' (make run's) or 'test' (make test's)" >&2
    exit 2
    ;;
esac

KAFKA_VERSION=4.4.0
LOG4J_VERSION=2.26.1
SLF4J_VERSION=2.0.17
MONGO_JAVA_SERVER_VERSION=1.47.0
MAILPIT_VERSION=v1.27.11
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

HOST=127.0.0.1
KAFKA_PORT=$((19092 + PORT_OFFSET))
KAFKA_CONTROLLER_PORT=$((19093 + PORT_OFFSET))
MONGO_PORT=$((27117 + PORT_OFFSET))
SMTP_PORT=$((11025 + PORT_OFFSET))
MAILPIT_HTTP_PORT=$((18025 + PORT_OFFSET))

KAFKA_DIR=$CACHE_DIR/kafka-$KAFKA_VERSION
MONGO_DIR=$CACHE_DIR/mongo-java-server-$MONGO_JAVA_SERVER_VERSION
MAILPIT_BIN=$CACHE_DIR/mailpit-$MAILPIT_VERSION/mailpit

log() { echo "infra: $*" >&2; }

die() {
    log "$*"
    exit 1
}

# Printed whenever something cannot be fetched or built, so nobody is stuck without a way out.
use_existing_servers_hint() {
    cat >&2 <<EOF
infra: To use servers you already run instead of this dev stack, skip infra.sh and export
infra:   KAFKA_BOOTSTRAP_SERVERS=host:port  MONGODB_URI=mongodb://host:port
infra:   SMTP_HOST=host  SMTP_PORT=port  MAILPIT_API_URL=http://host:port
EOF
}

require_tool() {
    local tool=$1 why=$2
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "'$tool' is not installed; it is needed to $why."
        use_existing_servers_hint
        exit 1
    fi
}

# ---------------------------------------------------------------------------------------------
# One-time bootstrap: everything is fetched from package registries through their own clients.

maven_fetch() {
    local what=$1 pom_dir=$2 out_dir=$3
    local fetch_log=$pom_dir/fetch.log
    rm -rf "$out_dir"
    if ! mvn -B -q -f "$pom_dir/pom.xml" -Dmaven.repo.local="$CACHE_DIR/m2" \
        "$DEPENDENCY_PLUGIN:copy-dependencies" -DincludeScope=runtime \
        -DoutputDirectory="$out_dir" >"$fetch_log" 2>&1; then
        tail -n 20 "$fetch_log" >&2
        log "could not fetch $what from Maven Central (is the registry reachable?). Full log: $fetch_log"
        use_existing_servers_hint
        exit 1
    fi
}

ensure_kafka() {
    [[ -f $KAFKA_DIR/.complete ]] && return
    require_tool java "run Kafka (Java 17 or newer)"
    require_tool mvn "fetch the Kafka jars"
    log "fetching Kafka $KAFKA_VERSION jars (once, into $KAFKA_DIR)"
    mkdir -p "$KAFKA_DIR"
    # The broker logs through SLF4J 2; log4j2 is the binding that writes our log file.
    cat >"$KAFKA_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.devstack</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
    maven_fetch "Kafka $KAFKA_VERSION" "$KAFKA_DIR" "$KAFKA_DIR/libs"
    touch "$KAFKA_DIR/.complete"
}

ensure_mongo() {
    local source=$HERE/mongo/MongoServerLauncher.java
    if [[ ! -f $MONGO_DIR/.complete ]]; then
        require_tool java "run the MongoDB-wire server (Java 17 or newer)"
        require_tool mvn "fetch mongo-java-server"
        log "fetching mongo-java-server $MONGO_JAVA_SERVER_VERSION jars (once, into $MONGO_DIR)"
        mkdir -p "$MONGO_DIR"
        cat >"$MONGO_DIR/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.devstack</groupId>
  <artifactId>mongo-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>de.bwaldvogel</groupId><artifactId>mongo-java-server-h2-backend</artifactId><version>$MONGO_JAVA_SERVER_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-simple</artifactId><version>$SLF4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
        maven_fetch "mongo-java-server $MONGO_JAVA_SERVER_VERSION" "$MONGO_DIR" "$MONGO_DIR/libs"
        touch "$MONGO_DIR/.complete"
    fi
    # The launcher is ours and may change: recompile when its source differs from the last build.
    local digest
    digest=$(sha256sum "$source" | cut -d' ' -f1)
    if [[ "$(cat "$MONGO_DIR/classes/.source-sha256" 2>/dev/null)" != "$digest" ]]; then
        require_tool javac "compile the MongoDB-wire server launcher (install a JDK, not only a JRE)"
        rm -rf "$MONGO_DIR/classes"
        mkdir -p "$MONGO_DIR/classes"
        javac -d "$MONGO_DIR/classes" -cp "$MONGO_DIR/libs/*" "$source" ||
            die "could not compile $source against $MONGO_DIR/libs"
        echo "$digest" >"$MONGO_DIR/classes/.source-sha256"
    fi
}

ensure_mailpit() {
    [[ -x $MAILPIT_BIN ]] && return
    require_tool go "build Mailpit (go install github.com/axllent/mailpit@$MAILPIT_VERSION)"
    log "building Mailpit $MAILPIT_VERSION with go install (once, about a minute)"
    local gopath=$CACHE_DIR/go-build-tmp build_log=$CACHE_DIR/mailpit-build.log
    mkdir -p "$(dirname "$MAILPIT_BIN")"
    # A private module and build cache, so the build is reproducible and can be deleted after;
    # CGO off because Mailpit's SQLite is pure Go and then no C compiler is needed.
    if ! GOBIN=$(dirname "$MAILPIT_BIN") GOPATH=$gopath GOMODCACHE=$gopath/pkg/mod \
        GOCACHE=$gopath/cache GOFLAGS=-modcacherw CGO_ENABLED=0 \
        go install "github.com/axllent/mailpit@$MAILPIT_VERSION" >"$build_log" 2>&1; then
        tail -n 20 "$build_log" >&2
        log "could not build Mailpit (is the Go module proxy reachable?). Full log: $build_log"
        use_existing_servers_hint
        exit 1
    fi
    # The sources and objects (about 1 GB) are not needed once the binary exists.
    rm -rf "$gopath"
}

# Both stacks may start at once on a fresh machine (make run beside make test): one download or
# build into the shared cache at a time. fd 8 is closed again before any server is launched.
cache_locked() {
    if ! command -v flock >/dev/null 2>&1; then
        "$@"
        return
    fi
    mkdir -p "$CACHE_DIR"
    exec 8>"$CACHE_DIR/bootstrap.lock"
    flock -w 1800 8 || die "another infra.sh has held $CACHE_DIR/bootstrap.lock for 30 minutes"
    "$@"
    exec 8>&-
}

# ---------------------------------------------------------------------------------------------
# Processes: each server runs detached in its own session, logs to a file, and is known by a
# pid file whose process must still mention its directory in our state directory (pids get
# reused, and the test stack's directories lie inside the dev stack's).

server_dir() { echo "$STATE_DIR/$1"; }
pid_file() { echo "$STATE_DIR/$1/$1.pid"; }
log_file() { echo "$STATE_DIR/$1/$1.log"; }

# A zombie is dead too: where nothing reaps orphans it would otherwise look alive forever.
alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

running_pid() {
    local server=$1 pid
    pid=$(cat "$(pid_file "$server")" 2>/dev/null) || return 1
    if [[ -n $pid ]] && alive "$pid" &&
        ps -ww -o args= -p "$pid" 2>/dev/null | grep -qF -- "$STATE_DIR/$server/"; then
        echo "$pid"
        return 0
    fi
    rm -f "$(pid_file "$server")"
    return 1
}

port_open() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

launch() {
    local server=$1
    shift
    local log
    log=$(log_file "$server")
    mkdir -p "$(server_dir "$server")"
    # Keep the previous run's log: after a crash it is the interesting one.
    [[ -f $log ]] && mv -f "$log" "$log.1"
    local detach=()
    # Own session: a Ctrl-C in the terminal reaches run.sh, which stops servers in order.
    command -v setsid >/dev/null 2>&1 && detach=(setsid)
    # fd 9 is our lock: a server must not hold it for its whole life.
    nohup "${detach[@]}" "$@" >"$log" 2>&1 </dev/null 9>&- &
    echo $! >"$(pid_file "$server")"
}

fail_with_log() {
    local server=$1 message=$2 log
    log=$(log_file "$server")
    log "$server: $message"
    if [[ -f $log ]]; then
        echo "---- last lines of $log" >&2
        tail -n 30 "$log" >&2
        echo "----" >&2
    fi
    exit 1
}

# Python probes speak the protocol; without the project's environment we settle for an open port.
protocol_ready() {
    local kind=$1 address=$2
    [[ -x "$REPO/.venv/bin/python" ]] || return 0
    "$REPO/.venv/bin/python" "$HERE/ready.py" "$kind" "$address" 2>/dev/null
}

server_ready() {
    case $1 in
    kafka) port_open "$KAFKA_PORT" && protocol_ready kafka "$HOST:$KAFKA_PORT" ;;
    mongo) port_open "$MONGO_PORT" && protocol_ready mongo "mongodb://$HOST:$MONGO_PORT" ;;
    mailpit) curl -fsS -o /dev/null --max-time 2 "http://$HOST:$MAILPIT_HTTP_PORT/readyz" 2>/dev/null ;;
    esac
}

wait_ready() {
    local server=$1 timeout_s=$2 started=$SECONDS
    while ! server_ready "$server"; do
        running_pid "$server" >/dev/null || fail_with_log "$server" "exited during start-up"
        if ((SECONDS - started >= timeout_s)); then
            fail_with_log "$server" "not ready after ${timeout_s}s"
        fi
        sleep 0.3
    done
}

server_ports() {
    case $1 in
    kafka) echo "$KAFKA_PORT $KAFKA_CONTROLLER_PORT" ;;
    mongo) echo "$MONGO_PORT" ;;
    mailpit) echo "$SMTP_PORT $MAILPIT_HTTP_PORT" ;;
    esac
}

# A killed JVM shows as a zombie while its other threads still tear down and hold its sockets;
# a server is only gone once its ports are free again.
wait_ports_closed() {
    local server=$1 timeout_s=$2 started=$SECONDS port
    for port in $(server_ports "$server"); do
        while port_open "$port"; do
            if ((SECONDS - started >= timeout_s)); then
                log "$server: $HOST:$port still open ${timeout_s}s after the process ended"
                return 1
            fi
            sleep 0.1
        done
    done
}

refuse_foreign_ports() {
    local server=$1 port
    shift
    for port in "$@"; do
        # A moment's grace for our own previous process, which may still be releasing the port.
        local waited=0
        while port_open "$port" && ((waited < 50)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        if port_open "$port"; then
            die "$server: $HOST:$port is already taken by a process that is not this dev stack's" \
                "(state dir $STATE_DIR). Stop it, or point the project at it with the env vars."
        fi
    done
}

write_kafka_config() {
    local dir
    dir=$(server_dir kafka)
    mkdir -p "$dir/data"
    # Single node, combined broker + controller; every replication setting is 1 because there
    # is one broker. Fast group joins (no initial rebalance delay) keep tests quick.
    cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
EOF
    cat >"$dir/log4j2.properties" <<'EOF'
# Everything to stdout, which infra.sh sends to kafka.log.
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF
}

start_kafka() {
    cache_locked ensure_kafka
    local dir
    dir=$(server_dir kafka)
    if ! running_pid kafka >/dev/null; then
        refuse_foreign_ports kafka "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"
        write_kafka_config
        if [[ ! -f $dir/data/meta.properties ]]; then
            # A fresh data dir needs a cluster id and a one-voter KRaft quorum written into it.
            local cluster_id
            cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
            # A leading "-" would be read as an option (Kafka's own ids avoid it the same way).
            cluster_id=${cluster_id/#-/A}
            java -cp "$KAFKA_DIR/libs/*" -Dlog4j2.configurationFile="$dir/log4j2.properties" \
                kafka.tools.StorageTool format --cluster-id "$cluster_id" \
                --config "$dir/server.properties" --standalone --ignore-formatted \
                >"$dir/format.log" 2>&1 || {
                cat "$dir/format.log" >&2
                die "kafka: formatting $dir/data failed"
            }
        fi
        log "starting Kafka $KAFKA_VERSION on $HOST:$KAFKA_PORT"
        launch kafka java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true \
            -Dlog4j2.configurationFile="$dir/log4j2.properties" \
            -cp "$KAFKA_DIR/libs/*" kafka.Kafka "$dir/server.properties"
    fi
    wait_ready kafka 120
}

start_mongo() {
    cache_locked ensure_mongo
    local dir
    dir=$(server_dir mongo)
    if ! running_pid mongo >/dev/null; then
        refuse_foreign_ports mongo "$MONGO_PORT"
        mkdir -p "$dir/data"
        log "starting mongo-java-server $MONGO_JAVA_SERVER_VERSION (H2) on $HOST:$MONGO_PORT"
        # One line per client connection would drown the log: connection events at WARN.
        launch mongo java -Xms64m -Xmx1g -Djava.awt.headless=true \
            -Dorg.slf4j.simpleLogger.showDateTime=true \
            -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd HH:mm:ss.SSS" \
            -Dorg.slf4j.simpleLogger.log.de.bwaldvogel.mongo.wire=warn \
            -cp "$MONGO_DIR/classes:$MONGO_DIR/libs/*" \
            MongoServerLauncher "$HOST" "$MONGO_PORT" "$dir/data/partnership.mv.db"
    fi
    wait_ready mongo 60
}

start_mailpit() {
    cache_locked ensure_mailpit
    local dir
    dir=$(server_dir mailpit)
    if ! running_pid mailpit >/dev/null; then
        refuse_foreign_ports mailpit "$SMTP_PORT" "$MAILPIT_HTTP_PORT"
        mkdir -p "$dir"
        log "starting Mailpit $MAILPIT_VERSION: SMTP $HOST:$SMTP_PORT, API http://$HOST:$MAILPIT_HTTP_PORT"
        # No message cap and no reverse DNS (tests and benchmarks send thousands); any SMTP
        # login is accepted in plain text (dev only); chaos lets tests make SMTP fail on purpose.
        launch mailpit "$MAILPIT_BIN" \
            --smtp "$HOST:$SMTP_PORT" --listen "$HOST:$MAILPIT_HTTP_PORT" \
            --database "$dir/mailpit.db" --max 0 --smtp-disable-rdns \
            --smtp-auth-accept-any --smtp-auth-allow-insecure \
            --enable-chaos --disable-version-check
    fi
    wait_ready mailpit 30
}

stop_server() {
    local server=$1 signal=${2:-TERM} pid
    if ! pid=$(running_pid "$server"); then
        log "$server is not running"
        return 0
    fi
    log "stopping $server (pid $pid, SIG$signal)"
    kill "-$signal" "$pid" 2>/dev/null || true
    # Kafka's orderly shutdown takes a few seconds; after 30 s it is hung and gets SIGKILL.
    local waited=0
    while alive "$pid"; do
        if ((waited == 300)); then
            log "$server did not stop within 30 s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    rm -f "$(pid_file "$server")"
    wait_ports_closed "$server" 30 || true
}

status() {
    local server pid all_up=0
    for server in kafka mongo mailpit; do
        if pid=$(running_pid "$server"); then
            printf '%-8s running  pid %-8s log %s\n' "$server" "$pid" "$(log_file "$server")"
        else
            printf '%-8s stopped\n' "$server"
            all_up=3
        fi
    done
    return "$all_up"
}

print_env() {
    cat <<EOF
export KAFKA_BOOTSTRAP_SERVERS=$HOST:$KAFKA_PORT
export MONGODB_URI=mongodb://$HOST:$MONGO_PORT
export SMTP_HOST=$HOST
export SMTP_PORT=$SMTP_PORT
export MAILPIT_API_URL=http://$HOST:$MAILPIT_HTTP_PORT
export PARTNERSHIP_DEVSTACK=1
export PARTNERSHIP_STACK=$STACK
EOF
    # The only value that may hold spaces: quoted so that eval keeps it whole. The base
    # directory: with PARTNERSHIP_STACK it names this stack's state directory again.
    printf 'export PARTNERSHIP_STATE_DIR=%q\n' "$BASE_STATE_DIR"
}

# Serialise commands that change the stack: parallel test workers may all ask for a server.
take_lock() {
    mkdir -p "$STATE_DIR"
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$STATE_DIR/infra.lock"
    flock -w 900 9 || die "another infra.sh has held $STATE_DIR/infra.lock for 15 minutes"
}

usage() {
    sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

check_server_name() {
    case ${1:-} in
    kafka | mongo | mailpit) ;;
    *) usage ;;
    esac
}

main() {
    mkdir -p "$STATE_DIR"
    STATE_DIR=$(cd "$STATE_DIR" && pwd)
    BASE_STATE_DIR=$(cd "$BASE_STATE_DIR" && pwd)
    local command=${1:-}
    case $command in
    up)
        take_lock
        start_kafka
        start_mongo
        start_mailpit
        local selector=""
        [[ $STACK == dev ]] || selector="PARTNERSHIP_STACK=$STACK "
        log "$STACK stack ready; for its environment run: eval \"\$(${selector}$0 env)\""
        ;;
    down | reset)
        take_lock
        stop_server mailpit
        stop_server mongo
        stop_server kafka
        if [[ $command == reset ]]; then
            # Data only grows (a large H2 file slows start-up and listings); the test stack's
            # directory inside the dev stack's is another stack's and stays.
            rm -rf "${STATE_DIR:?}/kafka" "${STATE_DIR:?}/mongo" "${STATE_DIR:?}/mailpit"
            log "$STACK stack data deleted; 'up' starts empty servers"
        fi
        ;;
    start)
        check_server_name "${2:-}"
        take_lock
        "start_$2"
        ;;
    stop | kill)
        check_server_name "${2:-}"
        take_lock
        if [[ $command == kill ]]; then stop_server "$2" KILL; else stop_server "$2"; fi
        ;;
    status) status ;;
    env) print_env ;;
    *) usage ;;
    esac
}

main "$@"
