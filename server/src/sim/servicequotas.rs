//! A simulated Service Quotas, at the wire level: the AWS JSON 1.1 protocol as the real
//! `aws-sdk-servicequotas` client sends it (`POST /`, `X-Amz-Target:
//! ServiceQuotasV20190624.<Operation>`, `Content-Type: application/x-amz-json-1.1`), on the
//! endpoint EC2 and the marketplace share. It answers `GetServiceQuota` for EC2's public-AMI
//! quota with the simulated account's value in the region the request is signed for, the
//! same value EC2 enforces when an image is made public.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::ec2::{Ec2Sim, SIM_ACCOUNT};

/// The prefix of every Service Quotas operation in `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "ServiceQuotasV20190624.";
/// EC2's service code.
pub const EC2_SERVICE_CODE: &str = "ec2";
/// EC2's quota of public AMIs per region.
pub const PUBLIC_AMI_QUOTA_CODE: &str = "L-0E3CBAB9";

const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An error as AWS JSON 1.1 carries it: the type in `__type`, the text in `message`.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    answer(
        status,
        &json!({ "__type": kind, "message": message.into() }),
    )
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        body.to_string(),
    )
        .into_response()
}

/// Answers one Service Quotas request (`target` is the whole `X-Amz-Target` value) for the
/// region its signature names.
pub(super) fn handle(sim: &Ec2Sim, region: &str, target: &str, body: &[u8]) -> Response {
    if let Some(throttled) = sim.injected_fault() {
        return if throttled {
            error(
                StatusCode::BAD_REQUEST,
                "TooManyRequestsException",
                "Rate exceeded",
            )
        } else {
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "ServiceException",
                "Something went wrong.",
            )
        };
    }
    let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("The target {target} is not an operation of this service."),
        );
    };
    if operation != "GetServiceQuota" {
        return error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            format!("The operation {operation} is not simulated."),
        );
    }
    if !sim.has_region(region) {
        return error(
            StatusCode::BAD_REQUEST,
            "AccessDeniedException",
            format!("The region {region} is not enabled for this account."),
        );
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "SerializationException",
                "The request body is not a JSON object.",
            );
        }
    };
    let field = |name: &str| request.get(name).and_then(Value::as_str);
    let (Some(service), Some(quota)) = (field("ServiceCode"), field("QuotaCode")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "IllegalArgumentException",
            "ServiceCode and QuotaCode are required.",
        );
    };
    if service != EC2_SERVICE_CODE {
        return error(
            StatusCode::BAD_REQUEST,
            "NoSuchResourceException",
            format!("The request failed because the specified service {service} does not exist."),
        );
    }
    if quota != PUBLIC_AMI_QUOTA_CODE {
        return error(
            StatusCode::BAD_REQUEST,
            "NoSuchResourceException",
            format!(
                "The request failed because the specified quota {quota} of service {service} does not exist."
            ),
        );
    }
    let value = sim.public_image_quota(region);
    answer(
        StatusCode::OK,
        &json!({
            "Quota": {
                "ServiceCode": EC2_SERVICE_CODE,
                "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                "QuotaArn": format!("arn:aws:servicequotas:{region}:{SIM_ACCOUNT}:ec2/{PUBLIC_AMI_QUOTA_CODE}"),
                "QuotaCode": PUBLIC_AMI_QUOTA_CODE,
                "QuotaName": "Public AMIs",
                // AWS answers every quota as a double.
                "Value": value as f64,
                "Unit": "None",
                "Adjustable": true,
                "GlobalQuota": false,
            }
        }),
    )
}
