# shellcheck shell=bash
# Accounts for scripts that drive a running gateway (benchmarks, the API fuzz). Needs df_die
# from prereqs.sh.

# df_sign_in GATEWAY MAIL_DIR EMAIL USERNAME ROLE: signs up a user of ROLE, verifies the address
# from the mail the platform wrote into MAIL_DIR, logs in, and prints the session token.
df_sign_in() {
    local gateway=$1 mail=$2 email=$3 username=$4 role=$5
    local password="quiet orbit lantern 7 maple" token deadline=$((SECONDS + 20))
    curl -fs -o /dev/null -X POST "http://$gateway/v1/auth/signup" -H 'content-type: application/json' \
        -d "{\"email\":\"$email\",\"username\":\"$username\",\"password\":\"$password\",\"role\":\"$role\"}"
    until token=$(grep -lr "$email" "$mail" 2>/dev/null | xargs -r grep -hoE 'verify-email\?token=[A-Za-z0-9_-]+' | head -1 | cut -d= -f2) && [[ -n $token ]]; do
        ((SECONDS < deadline)) || df_die "no verification email for $email"
        sleep 0.2
    done
    curl -fs -o /dev/null -X POST "http://$gateway/v1/auth/verify-email" -H 'content-type: application/json' -d "{\"token\":\"$token\"}"
    curl -fs -X POST "http://$gateway/v1/auth/login" -H 'content-type: application/json' \
        -d "{\"email\":\"$email\",\"password\":\"$password\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_token"])'
}
