# The ACR webhook handler teams write by hand: sample 2 of
# shared/seeds/004_f83700383146f106.txt, copied verbatim (only this comment added). bench/run.sh
# serves it with gunicorn, one worker per core, as the "what users deploy instead" baseline.
from flask import Flask, request, jsonify
import logging
import json

app = Flask(__name__)
logging.basicConfig(level=logging.INFO)

@app.route('/webhook', methods=['POST'])
def handle_acr_webhook():
    """Handle ACR webhook notifications."""
    event = request.get_json()

    # Log the incoming event
    logging.info(f"Received webhook event: {json.dumps(event, indent=2)}")

    action = event.get('action')
    target = event.get('target', {})
    timestamp = event.get('timestamp')

    if action == 'push':
        repository = target.get('repository')
        tag = target.get('tag')
        digest = target.get('digest')
        registry = event.get('request', {}).get('host')

        logging.info(f"Image pushed: {registry}/{repository}:{tag}")
        logging.info(f"Digest: {digest}")

        # Trigger your deployment logic here
        trigger_deployment(registry, repository, tag, digest)

    elif action == 'delete':
        repository = target.get('repository')
        digest = target.get('digest')

        logging.info(f"Image deleted: {repository} ({digest})")

        # Handle cleanup logic
        handle_image_deletion(repository, digest)

    elif action == 'quarantine':
        repository = target.get('repository')
        tag = target.get('tag')

        logging.info(f"Image quarantined: {repository}:{tag}")

        # Trigger security scan
        trigger_security_scan(repository, tag)

    return jsonify({'status': 'ok'}), 200


def trigger_deployment(registry, repository, tag, digest):
    """Trigger deployment based on image push."""
    # Example: Call Kubernetes API to update deployment
    # Example: Trigger Azure DevOps pipeline
    # Example: Send notification to Slack
    pass


def handle_image_deletion(repository, digest):
    """Handle image deletion event."""
    # Example: Update inventory database
    # Example: Clean up related resources
    pass


def trigger_security_scan(repository, tag):
    """Trigger security scan for quarantined image."""
    # Example: Call vulnerability scanner API
    pass


if __name__ == '__main__':
    app.run(host='0.0.0.0', port=5000)
