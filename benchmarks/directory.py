"""Users and bearer tokens in a running crm-gateway, created with the bootstrap admin token."""

from __future__ import annotations

import itertools

from harness import ADMIN_TOKEN

_n = itertools.count(1)


class GatewayDirectory:
    def __init__(self, address: str):
        import grpc
        from crm.gateway.v1 import gateway_pb2, gateway_pb2_grpc
        self.pb = gateway_pb2
        self.channel = grpc.insecure_channel(address)
        self.stub = gateway_pb2_grpc.GatewayServiceStub(self.channel)
        self.admin = (("authorization", f"Bearer {ADMIN_TOKEN}"),)

    def team(self, name: str) -> str:
        return self.stub.CreateTeam(self.pb.CreateTeamRequest(name=name), metadata=self.admin, timeout=10).team.id

    def user(self, name: str, role: str, team_id: str = "") -> tuple[str, str]:
        """Creates a user and a token for them; returns (user id, bearer token)."""
        roles = {"rep": self.pb.ROLE_REP, "manager": self.pb.ROLE_MANAGER, "admin": self.pb.ROLE_ADMIN}
        user = self.stub.CreateUser(self.pb.CreateUserRequest(
            request_id=f"bench-user-{next(_n)}", name=name, email=f"{name.lower().replace(' ', '.')}@example.com",
            role=roles[role], team_id=team_id), metadata=self.admin, timeout=10).user
        token = self.stub.IssueToken(self.pb.IssueTokenRequest(request_id=f"bench-token-{next(_n)}", user_id=user.id,
                                                               name="bench"), metadata=self.admin, timeout=10).token
        return user.id, token

    def close(self) -> None:
        self.channel.close()


def bearer(token: str):
    return (("authorization", f"Bearer {token}"),)
