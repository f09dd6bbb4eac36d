#!/usr/bin/env python3
"""Reads an agency's CaseLink inbox topic over TLS and verifies every envelope's signature.

Each record's value is a serialized caselink.v1.SignedEnvelope (or, with header kind=alert, a
gateway deadline alert, which carries no agency signature and is only counted). The signature
is ECDSA P-256 / SHA-256 (DER) over the exact serialized Envelope bytes, checked against the
sender's signing certificate.

Python stubs come from the project's protos: protoc --python_out=OUT -I proto proto/caselink/v1/*.proto
then put OUT on --stubs.

usage: verify_inbox.py --bootstrap HOST:PORT --topic T --ca CA.crt --cert tls.crt --key tls.key
                       --signer-cert AGENCY=signing.crt [...] --stubs DIR --expect N
Exit status 0 when N envelopes were read and all verified; 1 otherwise.
"""
import argparse
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--ca", required=True, help="CA that the broker's certificate chains to")
    parser.add_argument("--cert", required=True, help="the agency's TLS client certificate")
    parser.add_argument("--key", required=True, help="its private key")
    parser.add_argument("--group", default="caselink-test-reader")
    parser.add_argument("--signer-cert", action="append", default=[],
                        help="AGENCY=PEM: signing certificate of a sender agency")
    parser.add_argument("--stubs", required=True, help="directory with the generated caselink/v1/*_pb2.py")
    parser.add_argument("--expect", type=int, required=True, help="envelopes to read")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()

    sys.path.insert(0, args.stubs)
    from caselink.v1 import envelope_pb2  # noqa: E402 (generated at test time)
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    keys = {}
    for item in args.signer_cert:
        agency, _, path = item.partition("=")
        with open(path, "rb") as f:
            keys[agency] = x509.load_pem_x509_certificate(f.read()).public_key()

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "security.protocol": "ssl",
        "ssl.ca.location": args.ca,
        "ssl.certificate.location": args.cert,
        "ssl.key.location": args.key,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    metadata = consumer.list_topics(args.topic, timeout=15)
    partitions = metadata.topics[args.topic].partitions
    consumer.assign([TopicPartition(args.topic, p, 0) for p in partitions])

    verified, failures, alerts = 0, [], 0
    seen = set()
    deadline = time.monotonic() + args.timeout
    while verified + len(failures) < args.expect and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            if message.error().code() == KafkaError._PARTITION_EOF:
                continue
            print(f"error: {message.error()}", file=sys.stderr)
            return 1
        headers = {k: (v.decode() if v is not None else "") for k, v in (message.headers() or [])}
        if headers.get("kind") == "alert":
            alerts += 1
            continue
        envelope_id = headers.get("envelope-id", "")
        if envelope_id in seen:
            continue  # at-least-once delivery: a repeat of an envelope already checked
        seen.add(envelope_id)
        signed = envelope_pb2.SignedEnvelope()
        signed.ParseFromString(message.value())
        envelope = envelope_pb2.Envelope()
        envelope.ParseFromString(signed.envelope)
        key = keys.get(envelope.sender_agency)
        if key is None:
            failures.append(f"{envelope_id}: no signing certificate given for {envelope.sender_agency}")
            continue
        try:
            key.verify(signed.signature.value, signed.envelope, ec.ECDSA(hashes.SHA256()))
            verified += 1
        except InvalidSignature:
            failures.append(f"{envelope_id}: signature does not verify with {envelope.sender_agency}'s certificate")
    consumer.close()

    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    print(f"{verified} envelopes verified, {len(failures)} failed, {alerts} alerts on {args.topic}")
    return 0 if verified == args.expect and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
