using Google.Protobuf;
using Shoal.Api.Defaults;
using Shoal.Api.Validation;

namespace Shoal.Api.Tests.Validation;

public class NodeAndClusterSpecValidationTests
{
    [Fact]
    public void NodeSpec_WithLabelsAndNoName_IsAccepted()
    {
        var spec = new NodeSpec { Annotations = new Annotations { Labels = { ["zone"] = "a" } }, Availability = NodeAvailability.Drain };
        Expect.Accepted(SpecValidator.Validate(spec));
        Expect.Accepted(SpecValidator.Validate(new NodeSpec()));
    }

    [Fact]
    public void NodeSpec_WithEmptyLabelKeyBadNameOrUnknownRole_IsRejected()
    {
        var spec = new NodeSpec
        {
            Annotations = new Annotations { Name = "node 1", Labels = { [string.Empty] = "x" } },
            DesiredRole = (NodeRole)7,
        };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "node \"node 1\": name \"node 1\" is not a valid DNS label");
        Expect.Rejected(result, "labels has an empty key");
        Expect.Rejected(result, "role has unknown value 7");
        Expect.Rejected(SpecValidator.Validate((NodeSpec?)null), "node (no name): spec must be provided");
    }

    [Fact]
    public void DefaultClusterSpec_IsAccepted() => Expect.Accepted(SpecValidator.Validate(ClusterDefaults.NewClusterSpec()));

    [Fact]
    public void ClusterSpec_WithOnlyAName_IsAccepted() =>
        Expect.Accepted(SpecValidator.Validate(new ClusterSpec { Annotations = new Annotations { Name = "default" } }));

    [Fact]
    public void ClusterSpec_WithoutName_IsRejected() =>
        Expect.Rejected(SpecValidator.Validate(new ClusterSpec()), "cluster (no name): name must be provided");

    [Fact]
    public void NegativeTaskHistory_IsRejected()
    {
        var spec = ClusterDefaults.NewClusterSpec();
        spec.Orchestration.TaskHistoryRetentionLimit = -1;
        Expect.Rejected(SpecValidator.Validate(spec), "cluster \"default\": orchestration.task_history_retention_limit must be >= 0, got -1");
    }

    [Theory]
    [InlineData(1u, 10u, true)]
    [InlineData(3u, 3u, false)]
    [InlineData(5u, 2u, false)]
    [InlineData(0u, 0u, true)]
    [InlineData(20u, 0u, false)] // the default election tick (10) would not exceed it
    [InlineData(0u, 1u, false)] // nor would 1 exceed the default heartbeat tick (1)
    public void ElectionTick_MustExceedHeartbeatTick_CountingDefaults(uint heartbeat, uint election, bool accepted)
    {
        var spec = ClusterDefaults.NewClusterSpec();
        spec.Raft.HeartbeatTick = heartbeat;
        spec.Raft.ElectionTick = election;

        var result = SpecValidator.Validate(spec);

        if (accepted)
        {
            Expect.Accepted(result);
        }
        else
        {
            Expect.Rejected(result, "raft.election_tick", "must be greater than raft.heartbeat_tick");
        }
    }

    [Fact]
    public void DispatcherHeartbeat_MustBeZeroOrAtLeastOneSecond()
    {
        var spec = ClusterDefaults.NewClusterSpec();
        spec.Dispatcher.HeartbeatPeriod = Specs.Seconds(0.5);
        Expect.Rejected(SpecValidator.Validate(spec), "dispatcher.heartbeat_period must be 0 (the default, 5s) or at least 1s, got 500ms");

        spec.Dispatcher.HeartbeatPeriod = Specs.Seconds(-1);
        Expect.Rejected(SpecValidator.Validate(spec), "dispatcher.heartbeat_period must be >= 0, got -1s");

        spec.Dispatcher.HeartbeatPeriod = Specs.Seconds(0);
        Expect.Accepted(SpecValidator.Validate(spec));
        spec.Dispatcher.HeartbeatPeriod = Specs.Seconds(1);
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(3599)]
    public void NodeCertExpiryUnderOneHour_IsRejected(int seconds)
    {
        var spec = ClusterDefaults.NewClusterSpec();
        spec.CaConfig.NodeCertExpiry = Specs.Seconds(seconds);
        Expect.Rejected(SpecValidator.Validate(spec), "ca_config.node_cert_expiry must be at least 1h0m0s");
    }

    [Fact]
    public void NodeCertExpiryOfOneHour_IsAccepted()
    {
        var spec = ClusterDefaults.NewClusterSpec();
        spec.CaConfig.NodeCertExpiry = Specs.Seconds(3600);
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Fact]
    public void ExternalCas_NeedHttpsUrls_AndASigningKeyNeedsItsCert()
    {
        var spec = ClusterDefaults.NewClusterSpec();
        spec.CaConfig.ExternalCas.Add(new ExternalCa { Url = "https://ca.example.com:8443/sign" });
        spec.CaConfig.ExternalCas.Add(new ExternalCa { Url = "http://ca.example.com" });
        spec.CaConfig.ExternalCas.Add(new ExternalCa { Url = "not a url" });
        spec.CaConfig.SigningCaKey = ByteString.CopyFromUtf8("key");

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "ca_config.external_cas[1].url \"http://ca.example.com\" must be an absolute https:// URL");
        Expect.Rejected(result, "ca_config.external_cas[2].url \"not a url\" must be an absolute https:// URL");
        Expect.Rejected(result, "ca_config.signing_ca_cert must be provided when ca_config.signing_ca_key is");
        Assert.Equal(3, result.Errors.Count);
    }

    [Fact]
    public void NullClusterSpec_IsRejected() =>
        Expect.Rejected(SpecValidator.Validate((ClusterSpec?)null), "cluster (no name): spec must be provided");
}
