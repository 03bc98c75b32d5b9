using Shoal.Api.Validation;

namespace Shoal.Api.Tests.Validation;

public class NetworkSpecValidationTests
{
    [Fact]
    public void OverlayNetworkWithIpam_IsAccepted()
    {
        var spec = Specs.Network();
        spec.Attachable = true;
        spec.Ipam = new IpamOptions
        {
            Driver = new Driver { Name = "default" },
            Configs =
            {
                new IpamConfig { Family = IpamConfig.Types.AddressFamily.Ipv4, Subnet = "10.0.9.0/24", Range = "10.0.9.128/25", Gateway = "10.0.9.1" },
                new IpamConfig { Subnet = "fd00:1::/64", Gateway = "fd00:1::1" },
            },
        };
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Fact]
    public void NullSpec_IsRejected() => Expect.Rejected(SpecValidator.Validate((NetworkSpec?)null), "network (no name): spec must be provided");

    [Theory]
    [InlineData("", "network (no name): name must be provided")]
    [InlineData("my.net", "is not a valid DNS label")]
    [InlineData("-net", "is not a valid DNS label")]
    public void NamesFollowTheServiceRule(string name, string error) =>
        Expect.Rejected(SpecValidator.Validate(Specs.Network(name)), error);

    [Theory]
    [InlineData("overlay", true)]
    [InlineData("weaveworks/net-plugin:latest_release", false)]
    [InlineData("my_driver.v2-beta", true)]
    [InlineData("", false)]
    [InlineData("bad driver", false)]
    public void DriverName_IsAPluginName(string driver, bool accepted)
    {
        var spec = Specs.Network();
        spec.DriverConfig = new Driver { Name = driver };

        var result = SpecValidator.Validate(spec);

        if (accepted)
        {
            Expect.Accepted(result);
        }
        else
        {
            Expect.Rejected(result, "driver_config.name");
        }
    }

    [Theory]
    [InlineData("10.0.0.0", "is not a valid CIDR block")]
    [InlineData("10.0.0.0/33", "is not a valid CIDR block")]
    [InlineData("10.0.0/8", "is not a valid CIDR block")]
    [InlineData("010.0.0.0/8", "is not a valid CIDR block")]
    [InlineData("fe80::1%eth0/64", "is not a valid CIDR block")]
    [InlineData("10.0.0.0/+8", "is not a valid CIDR block")]
    [InlineData("", "ipam.configs[0].subnet must be provided")]
    public void MalformedSubnets_AreRejected(string subnet, string error)
    {
        var spec = Specs.Network();
        spec.Ipam = new IpamOptions { Configs = { new IpamConfig { Subnet = subnet } } };
        Expect.Rejected(SpecValidator.Validate(spec), error);
    }

    [Fact]
    public void SubnetWithHostBitsSet_IsAccepted_AsGoParsesIt()
    {
        var spec = Specs.Network();
        spec.Ipam = Ipam("10.0.9.7/24", gateway: "10.0.9.1");
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Theory]
    [InlineData("10.0.9.0/24", "10.0.10.1", "gateway \"10.0.10.1\" is not inside subnet \"10.0.9.0/24\"")]
    [InlineData("10.0.9.0/24", "10.0.9", "gateway \"10.0.9\" is not a valid IP address")]
    [InlineData("10.0.9.0/24", "fd00::1", "is not inside subnet")]
    [InlineData("10.0.0.0/9", "10.128.0.1", "is not inside subnet")]
    [InlineData("fd00:1::/64", "fd00:2::1", "is not inside subnet")]
    public void GatewaysOutsideTheirSubnet_AreRejected(string subnet, string gateway, string error)
    {
        var spec = Specs.Network();
        spec.Ipam = Ipam(subnet, gateway);
        Expect.Rejected(SpecValidator.Validate(spec), "ipam.configs[0].gateway", error);
    }

    [Theory]
    [InlineData("10.0.0.0/9", "10.127.255.254")]
    [InlineData("0.0.0.0/0", "192.168.1.1")]
    [InlineData("fd00::/8", "fdff::1")]
    [InlineData("10.1.2.3/32", "10.1.2.3")]
    public void GatewaysInsideTheirSubnet_AreAccepted(string subnet, string gateway)
    {
        var spec = Specs.Network();
        spec.Ipam = Ipam(subnet, gateway);
        Expect.Accepted(SpecValidator.Validate(spec));
    }

    [Fact]
    public void RangeOutsideTheSubnet_AndWrongFamily_AreRejected()
    {
        var spec = Specs.Network();
        spec.Ipam = new IpamOptions
        {
            Configs = { new IpamConfig { Family = IpamConfig.Types.AddressFamily.Ipv6, Subnet = "10.0.9.0/24", Range = "10.0.10.0/25" } },
        };

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "ipam.configs[0].range \"10.0.10.0/25\" is not inside subnet \"10.0.9.0/24\"");
        Expect.Rejected(result, "ipam.configs[0].subnet \"10.0.9.0/24\" does not match family Ipv6");
    }

    [Fact]
    public void IngressNetwork_CannotBeAttachable()
    {
        var spec = Specs.Network("ingress");
        spec.Ingress = true;
        spec.Attachable = true;
        Expect.Rejected(SpecValidator.Validate(spec), "network \"ingress\": an ingress network cannot be attachable");
    }

    [Fact]
    public void PredefinedLabel_IsReservedForTheSwarm()
    {
        var spec = Specs.Network();
        spec.Annotations.Labels["com.docker.swarm.predefined"] = "true";
        Expect.Rejected(SpecValidator.Validate(spec), "label com.docker.swarm.predefined is reserved");
    }

    [Fact]
    public void ScopeOtherThanSwarm_AndEmptyConfigFrom_AreRejected()
    {
        var spec = Specs.Network();
        spec.Scope = "local";
        spec.Network = string.Empty;

        var result = SpecValidator.Validate(spec);

        Expect.Rejected(result, "scope \"local\" is not supported");
        Expect.Rejected(result, "config_from.network must name the config-only network");
    }

    [Fact]
    public void IpamDriverWithoutName_IsRejected()
    {
        var spec = Specs.Network();
        spec.Ipam = new IpamOptions { Driver = new Driver() };
        Expect.Rejected(SpecValidator.Validate(spec), "ipam.driver.name must be provided when ipam.driver is set");
    }

    private static IpamOptions Ipam(string subnet, string gateway) =>
        new() { Configs = { new IpamConfig { Subnet = subnet, Gateway = gateway } } };
}
