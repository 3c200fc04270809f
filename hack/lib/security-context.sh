# Sourced by hack/cluster.sh and hack/knative.sh: the container
# securityContext of knative/service.yaml, the one users install, so that the
# checks run the image exactly as it is deployed.

# service_security_context INDENT: prints the `securityContext:` block of the
# function's container in knative/service.yaml, re-indented to INDENT spaces,
# comments dropped.
service_security_context() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  awk -v indent="$1" '
    /^ *securityContext:/ && !found { found = 1; base = match($0, /[^ ]/); print sprintf("%" indent "s", "") "securityContext:"; next }
    found == 1 {
      if ($0 ~ /^ *#/) next
      if (match($0, /[^ ]/) <= base) exit
      print sprintf("%" indent "s", "") substr($0, base)
    }
    END { if (!found) exit 1 }' "$root/knative/service.yaml"
}
