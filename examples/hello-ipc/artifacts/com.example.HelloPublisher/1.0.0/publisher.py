"""Publishes a few greetings locally and one to IoT Core, then finishes."""

from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
from awsiot.greengrasscoreipc.model import QOS, JsonMessage, PublishMessage

client = GreengrassCoreIPCClientV2()
for name in ("edge", "fleet", "world"):
    client.publish_to_topic(topic=f"hello/{name}", publish_message=PublishMessage(json_message=JsonMessage(message={"greeting": f"hello {name}"})))
client.publish_to_iot_core(topic_name="hello/cloud", qos=QOS.AT_LEAST_ONCE, payload=b'{"greeting": "hello cloud"}')
print("published 3 local greetings and 1 to IoT Core", flush=True)
client.close()
