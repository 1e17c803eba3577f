#!/bin/sh
# One-shot (service temporal-setup, image temporalio/admin-tools): wait for the Temporal frontend,
# create the namespace if it is missing and register the custom search attributes that the deal
# workflow upserts (funnel/search_attributes.py). Safe to run again: what exists is left alone.
set -eu

ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-720h}"
ATTEMPTS="${SETUP_ATTEMPTS:-60}" # tries, 2 s apart, for each step that may have to wait

# Name and type of every custom search attribute, one "Name Type" a line.
SEARCH_ATTRIBUTES='DealStage Keyword
DealResponsible Keyword
DealAmount Double
DealDeadlineBreached Bool
DealTeam KeywordList
DealPipeline Keyword'

retry() { # retry COMMAND...: run it until it succeeds, at most ATTEMPTS times
    n=1
    until "$@"; do
        if [ "$n" -ge "$ATTEMPTS" ]; then
            echo "giving up after $n tries: $*" >&2
            return 1
        fi
        n=$((n + 1))
        sleep 2
    done
}

cli() { temporal "$@" --address "$ADDRESS"; }

echo "waiting for the Temporal frontend at $ADDRESS"
retry cli operator cluster health >/dev/null

create_namespace() {
    if cli operator namespace describe --namespace "$NAMESPACE" >/dev/null 2>&1; then
        echo "namespace $NAMESPACE exists"
        return 0
    fi
    if out=$(cli operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" 2>&1); then
        echo "namespace $NAMESPACE created (retention $RETENTION)"
        return 0
    fi
    case "$out" in
        *"already exists"* | *"already registered"*) echo "namespace $NAMESPACE exists"; return 0 ;;
    esac
    echo "$out" >&2
    return 1
}
retry create_namespace

create_attribute() { # create_attribute NAME TYPE
    if out=$(cli operator search-attribute create --namespace "$NAMESPACE" --name "$1" --type "$2" 2>&1); then
        echo "search attribute $1 ($2) ready"
        return 0
    fi
    case "$out" in
        *"different type"*)
            # Same name, other type: a human has to decide (remove it or rename ours); stop.
            echo "$out" >&2
            exit 1
            ;;
        *"already exists"*)
            # Current servers answer success for the same name and type; older ones say this.
            echo "search attribute $1 exists"
            return 0
            ;;
    esac
    # A namespace created a moment ago may not have reached every frontend cache yet: try again.
    echo "$out" >&2
    return 1
}

echo "$SEARCH_ATTRIBUTES" | while read -r name type; do
    [ -n "$name" ] || continue
    retry create_attribute "$name" "$type"
done

echo "namespace $NAMESPACE and its search attributes are ready"
