mod auth;
mod broker;
mod files;
mod key;
mod registration;
mod report;
mod run_service;
mod translate;
