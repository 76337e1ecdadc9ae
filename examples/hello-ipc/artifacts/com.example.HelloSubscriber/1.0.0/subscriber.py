"""Prints every greeting it receives; reports RUNNING only once it is subscribed."""

import threading

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

client = GreengrassCoreIPCClientV2()


def on_greeting(event):
    print(f"received {event.json_message.message} on {event.json_message.context.topic}", flush=True)


client.subscribe_to_topic(topic="hello/+", on_stream_event=on_greeting)
client.update_state(state="RUNNING")
threading.Event().wait()
