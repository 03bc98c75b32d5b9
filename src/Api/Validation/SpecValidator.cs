using Google.Protobuf.Collections;
using Google.Protobuf.WellKnownTypes;

namespace Shoal.Api.Validation;

/// <summary>
/// Static checks of user-submitted specs, run by the control API before anything is stored. The rules follow
/// SwarmKit's controlapi and moby's, so that what Docker refuses Shoal refuses too, with messages that name the
/// object, the field, the cause and the offending value. Checks that need the store (name conflicts, published
/// ports used by other services, referenced secrets and networks existing, mode changes) are not made here.
/// Validation never throws: a null or hostile spec yields errors. <c>EnsureValid</c> throws only
/// <see cref="SpecValidationException"/>.
/// </summary>
public static partial class SpecValidator
{
    /// <summary>Label SwarmKit reserves for the networks it creates itself.</summary>
    internal const string PredefinedNetworkLabel = "com.docker.swarm.predefined";

    public static void EnsureValid(ServiceSpec? spec) => Validate(spec).ThrowIfInvalid();

    public static void EnsureValid(NodeSpec? spec) => Validate(spec).ThrowIfInvalid();

    public static void EnsureValid(NetworkSpec? spec) => Validate(spec).ThrowIfInvalid();

    public static void EnsureValid(SecretSpec? spec) => Validate(spec).ThrowIfInvalid();

    public static void EnsureValid(ConfigSpec? spec) => Validate(spec).ThrowIfInvalid();

    public static void EnsureValid(ClusterSpec? spec) => Validate(spec).ThrowIfInvalid();

    /// <summary>
    /// A node spec: only its labels, its optional name and its enum values are the user's to set;
    /// nothing else in a node is user-controlled.
    /// </summary>
    public static ValidationResult Validate(NodeSpec? spec)
    {
        if (spec is null)
        {
            return Missing("node");
        }

        var problems = new Problems("node", spec.Annotations?.Name);
        if (!string.IsNullOrEmpty(spec.Annotations?.Name))
        {
            CheckDnsName(problems, spec.Annotations.Name);
        }

        CheckLabels(problems, spec.Annotations?.Labels, "labels");
        CheckEnum(problems, spec.DesiredRole, "role");
        CheckEnum(problems, spec.Membership, "membership");
        CheckEnum(problems, spec.Availability, "availability");
        return problems.ToResult();
    }

    public static ValidationResult Validate(SecretSpec? spec)
    {
        if (spec is null)
        {
            return Missing("secret");
        }

        var problems = new Problems("secret", spec.Annotations?.Name);
        CheckSecretOrConfigName(problems, spec.Annotations);
        CheckLabels(problems, spec.Annotations?.Labels, "labels");
        CheckOptionalDriver(problems, spec.Templating, "templating");
        if (spec.Driver is not null)
        {
            // As in SwarmKit: a secret from an external driver carries no data of its own.
            CheckOptionalDriver(problems, spec.Driver, "driver");
        }
        else
        {
            CheckPayload(problems, spec.Data.Length);
        }

        return problems.ToResult();
    }

    public static ValidationResult Validate(ConfigSpec? spec)
    {
        if (spec is null)
        {
            return Missing("config");
        }

        var problems = new Problems("config", spec.Annotations?.Name);
        CheckSecretOrConfigName(problems, spec.Annotations);
        CheckLabels(problems, spec.Annotations?.Labels, "labels");
        CheckOptionalDriver(problems, spec.Templating, "templating");
        CheckPayload(problems, spec.Data.Length);
        return problems.ToResult();
    }

    private static ValidationResult Missing(string kind)
    {
        var problems = new Problems(kind, null);
        problems.Add("spec must be provided");
        return problems.ToResult();
    }

    private static void CheckDnsName(Problems problems, string name)
    {
        if (name.Length > SpecLimits.MaxDnsLabelLength)
        {
            problems.Add($"name must be {SpecLimits.MaxDnsLabelLength} characters or fewer (a DNS label), got {name.Length}");
        }
        else if (!Patterns.DnsName().IsMatch(name))
        {
            problems.Add($"name {Text.Quote(name)} is not a valid DNS label: use ASCII letters, digits, '-' and '_', "
                + "starting and ending with a letter or digit");
        }
    }

    private static void CheckRequiredDnsName(Problems problems, Annotations? annotations)
    {
        var name = annotations?.Name;
        if (string.IsNullOrEmpty(name))
        {
            problems.Add("name must be provided");
        }
        else
        {
            CheckDnsName(problems, name);
        }
    }

    private static void CheckSecretOrConfigName(Problems problems, Annotations? annotations)
    {
        var name = annotations?.Name;
        if (string.IsNullOrEmpty(name))
        {
            problems.Add("name must be provided");
        }
        else if (name.Length > SpecLimits.MaxSecretOrConfigNameLength)
        {
            problems.Add($"name must be {SpecLimits.MaxSecretOrConfigNameLength} characters or fewer, got {name.Length}");
        }
        else if (!Patterns.SecretOrConfigName().IsMatch(name))
        {
            problems.Add($"name {Text.Quote(name)} is invalid: use ASCII letters, digits, '-', '_' and '.', "
                + "starting and ending with a letter or digit");
        }
    }

    private static void CheckPayload(Problems problems, int length)
    {
        if (length is < 1 or > SpecLimits.MaxSecretOrConfigSize)
        {
            problems.Add($"data must be 1 B to 500 KiB, got {length} B");
        }
    }

    private static void CheckLabels(Problems problems, MapField<string, string>? labels, string field)
    {
        // Map keys are never null in protobuf, so the only bad key is the empty one.
        if (labels is { Count: > 0 } && labels.ContainsKey(string.Empty))
        {
            problems.Add($"{field} has an empty key (label keys must be non-empty)");
        }
    }

    /// <summary>A driver is optional; when one is given it must be named, with a plugin-style name.</summary>
    private static void CheckOptionalDriver(Problems problems, Driver? driver, string field)
    {
        if (driver is null)
        {
            return;
        }

        if (driver.Name.Length == 0)
        {
            problems.Add($"{field}.name must be provided when {field} is set");
        }
        else if (!Patterns.DriverName().IsMatch(driver.Name))
        {
            problems.Add($"{field}.name {Text.Quote(driver.Name)} is invalid: use letters, digits, '_', '.' and '-'");
        }
    }

    /// <summary>
    /// Enum values arrive as numbers on the wire, so a spec can carry one that this version does not define.
    /// </summary>
    private static void CheckEnum<T>(Problems problems, T value, string field, string? member = null)
        where T : struct, System.Enum
    {
        if (!System.Enum.IsDefined(value))
        {
            problems.Add($"{FieldName(field, member)} has unknown value "
                + Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }

    // Field paths are joined only when a problem is reported, so valid specs format no strings.
    private static string FieldName(string field, string? member) => member is null ? field : $"{field}.{member}";

    /// <summary>
    /// Records a problem if a present duration is malformed or negative. Returns its length in nanoseconds when it
    /// is present and valid, and null otherwise.
    /// </summary>
    private static Int128? CheckDuration(Problems problems, Duration? duration, string field, string? member = null)
    {
        if (duration is null)
        {
            return null;
        }

        if (!Durations.IsWellFormed(duration))
        {
            problems.Add($"{FieldName(field, member)} is not a valid duration {Text.FormatDuration(duration)}: seconds must be within "
                + "±315576000000 and nanos within ±999999999 with the same sign as seconds");
            return null;
        }

        var nanos = Durations.ToNanos(duration);
        if (nanos < 0)
        {
            problems.Add($"{FieldName(field, member)} must be >= 0, got {Text.FormatDuration(nanos)}");
            return null;
        }

        return nanos;
    }
}
