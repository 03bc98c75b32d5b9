namespace Shoal.Api.Validation;

public static partial class SpecValidator
{
    /// <summary>
    /// A network spec. Names follow the same DNS-label rule as services, as in SwarmKit (which validates both with
    /// one function): a swarm network name is used in service discovery and in generated bridge and namespace
    /// names, so it must be a short, DNS-safe label — a local-scope Docker network may be named more loosely,
    /// but those are not swarm networks.
    /// </summary>
    public static ValidationResult Validate(NetworkSpec? spec)
    {
        if (spec is null)
        {
            return Missing("network");
        }

        var problems = new Problems("network", spec.Annotations?.Name);
        CheckRequiredDnsName(problems, spec.Annotations);
        CheckLabels(problems, spec.Annotations?.Labels, "labels");
        if (spec.Annotations?.Labels.ContainsKey(PredefinedNetworkLabel) == true)
        {
            problems.Add($"label {PredefinedNetworkLabel} is reserved for networks the swarm creates itself");
        }

        if (spec.Ingress && spec.Attachable)
        {
            problems.Add("an ingress network cannot be attachable");
        }

        CheckOptionalDriver(problems, spec.DriverConfig, "driver_config");
        if (spec.ConfigFromCase == NetworkSpec.ConfigFromOneofCase.Network && spec.Network.Length == 0)
        {
            problems.Add("config_from.network must name the config-only network to copy");
        }

        if (spec.Scope is not ("" or "swarm"))
        {
            problems.Add($"scope {Text.Quote(spec.Scope)} is not supported: swarm networks have scope \"swarm\"");
        }

        if (spec.Ipam is not null)
        {
            CheckOptionalDriver(problems, spec.Ipam.Driver, "ipam.driver");
            for (var i = 0; i < spec.Ipam.Configs.Count; i++)
            {
                CheckIpamConfig(problems, spec.Ipam.Configs[i], i);
            }
        }

        return problems.ToResult();
    }

    private static void CheckIpamConfig(Problems problems, IpamConfig config, int index)
    {
        if (!System.Enum.IsDefined(config.Family))
        {
            problems.Add($"ipam.configs[{index}].family has unknown value {(int)config.Family}");
        }

        if (!IpText.TryParseCidr(config.Subnet, out var subnet, out var prefixLength))
        {
            problems.Add(config.Subnet.Length == 0
                ? $"ipam.configs[{index}].subnet must be provided (CIDR, such as 10.0.9.0/24)"
                : $"ipam.configs[{index}].subnet {Text.Quote(config.Subnet)} is not a valid CIDR block (such as 10.0.9.0/24)");
            return;
        }

        var isIpv4 = subnet.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
        if ((config.Family == IpamConfig.Types.AddressFamily.Ipv4 && !isIpv4) || (config.Family == IpamConfig.Types.AddressFamily.Ipv6 && isIpv4))
        {
            problems.Add($"ipam.configs[{index}].subnet {Text.Quote(config.Subnet)} does not match family {config.Family}");
        }

        if (config.Range.Length > 0)
        {
            if (!IpText.TryParseCidr(config.Range, out var range, out _))
            {
                problems.Add($"ipam.configs[{index}].range {Text.Quote(config.Range)} is not a valid CIDR block");
            }
            else if (!IpText.Contains(subnet, prefixLength, range))
            {
                problems.Add($"ipam.configs[{index}].range {Text.Quote(config.Range)} is not inside subnet {Text.Quote(config.Subnet)}");
            }
        }

        if (config.Gateway.Length > 0)
        {
            if (!IpText.TryParseAddress(config.Gateway, out var gateway))
            {
                problems.Add($"ipam.configs[{index}].gateway {Text.Quote(config.Gateway)} is not a valid IP address");
            }
            else if (!IpText.Contains(subnet, prefixLength, gateway))
            {
                problems.Add($"ipam.configs[{index}].gateway {Text.Quote(config.Gateway)} is not inside subnet {Text.Quote(config.Subnet)}");
            }
        }
    }
}
