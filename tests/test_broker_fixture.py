"""The mosquitto fixture really brokers messages (other tests build on it)."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt

from tests.conftest import Broker


def test_mosquitto_round_trip(mosquitto: Broker) -> None:
    got: list[bytes] = []
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        done.set()

    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    sub.on_message = on_message
    sub.connect(mosquitto.host, mosquitto.port)
    sub.subscribe("t/x", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    pub.connect(mosquitto.host, mosquitto.port)
    pub.loop_start()
    try:
        # Retained so the message arrives even if the subscription lands after the publish.
        pub.publish("t/x", b"hello", qos=1, retain=True).wait_for_publish(5)
        assert done.wait(5), "no message arrived through mosquitto"
        assert got[0] == b"hello"
    finally:
        for c in (pub, sub):
            c.loop_stop()
            c.disconnect()
